import type { RegisterCommands } from '../cli/registry';
import { registerRatingCommands } from './rating/cli';
import { registerSampleCommands } from './cli-sample';

/** Subcommands of the pipeline component (filled in by the pipeline work). */
export const register: RegisterCommands = (program) => {
  registerRatingCommands(program);
  registerSampleCommands(program);
};
