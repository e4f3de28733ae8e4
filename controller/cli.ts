import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the controller component (filled in by the controller work). */
export const register: RegisterCommands = () => {};
