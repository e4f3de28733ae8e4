import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the profiler component (filled in by the profiler work). */
export const register: RegisterCommands = () => {};
