import type { RegisterCommands } from '../cli/registry';

/** Subcommands of the estimator component (filled in by the estimator work). */
export const register: RegisterCommands = () => {};
