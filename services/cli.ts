import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the services component (filled in by the services work). */
export const register: RegisterCommands = () => {};
