import type { RegisterCommands } from '../cli/registry';
import { registerSampleCommands } from './cli-sample';
import { registerReplayCommands } from './replay/cli';
import { registerStoreCommands } from './store/cli';
import { registerMonitorCommands } from './monitor/cli';

/** Subcommands of the ingestion path (samples, replay, store, monitor); billing has its own in billing/cli.ts. */
export const register: RegisterCommands = (program) => {
  registerSampleCommands(program);
  registerReplayCommands(program);
  registerStoreCommands(program);
  registerMonitorCommands(program);
};
