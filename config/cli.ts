import type { RegisterCommands } from '../cli/registry';

export const register: RegisterCommands = () => {};
