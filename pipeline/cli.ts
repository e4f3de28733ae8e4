import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the pipeline component (filled in by the pipeline work). */
export const register: RegisterCommands = () => {};
