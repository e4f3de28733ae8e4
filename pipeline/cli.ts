import type { RegisterCommands } from '../cli/registry';
import { registerRatingCommands } from './rating/cli';
import { registerLedgerCommands } from './billing/cli';
import { registerSampleCommands } from './cli-sample';
import { registerReplayCommands } from './replay/cli';
import { registerStoreCommands } from './store/cli';
import { registerMonitorCommands } from './monitor/cli';

/** Subcommands of the pipeline component (filled in by the pipeline work). */
export const register: RegisterCommands = (program) => {
  registerRatingCommands(program);
  registerLedgerCommands(program);
  registerSampleCommands(program);
  registerReplayCommands(program);
  registerStoreCommands(program);
  registerMonitorCommands(program);
};
