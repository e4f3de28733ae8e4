import type { RegisterCommands } from '../cli/registry';
import { register as configCommands } from './config-commands';
import { register as serviceCommands } from '../services/cli';
import { register as controllerCommands } from '../controller/cli';
import { register as billingCommands } from '../billing/cli';
import { register as pipelineCommands } from '../pipeline/cli';
import { register as estimatorCommands } from '../estimator/cli';
import { register as profilerCommands } from '../profiler/cli';
import { register as scalerCommands } from '../scaler/cli';
import { register as demoCommands } from '../cli/demo';
import { register as benchCommands } from '../bench/cli';
import { register as licenseCommands } from '../compliance/cli';
import { register as agentCommands } from '../agent/cli';
import { register as consoleCommands } from '../console/cli';
import { register as clusterCommands } from '../cluster/cli';

/**
 * The command groups of the `metering` program, in help order: each component's `register` from its
 * own `cli.ts` (cli/main.ts builds the program from this list).
 */
export const commandGroups: RegisterCommands[] = [
  configCommands,
  serviceCommands,
  controllerCommands,
  billingCommands,
  pipelineCommands,
  estimatorCommands,
  profilerCommands,
  scalerCommands,
  demoCommands,
  benchCommands,
  licenseCommands,
  agentCommands,
  consoleCommands,
  clusterCommands,
];
