import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the scaler component (filled in by the scaler work). */
export const register: RegisterCommands = () => {};
