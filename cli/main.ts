import { Command, CommanderError } from 'commander';
import { CliError, type RegisterCommands } from './registry';
import { register as configCommands } from '../config/cli';
import { register as serviceCommands } from '../services/cli';
import { register as controllerCommands } from '../controller/cli';
import { register as billingCommands } from '../billing/cli';
import { register as pipelineCommands } from '../pipeline/cli';
import { register as estimatorCommands } from '../estimator/cli';
import { register as profilerCommands } from '../profiler/cli';
import { register as scalerCommands } from '../scaler/cli';
import { register as demoCommands } from './demo';
import { register as benchCommands } from '../bench/cli';
import { register as licenseCommands } from '../compliance/cli';
import { register as agentCommands } from '../agent/cli';
import { register as consoleCommands } from '../console/cli';
import { register as clusterCommands } from '../cluster/cli';

const components: RegisterCommands[] = [
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

export function buildProgram(): Command {
  const program = new Command('metering')
    .description('Scalable metering pipeline on sharded MongoDB (Ceilometer ingestion, estimation, profiling, autoscaling, rating)')
    .option('-c, --config <file>', 'configuration file (default: ./metering.yaml if present, else embedded defaults)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of components) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `metering … | head` closes stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`metering: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    throw err;
  }
}
