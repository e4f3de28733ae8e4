import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the bench component (filled in by the bench work). */
export const register: RegisterCommands = () => {};
