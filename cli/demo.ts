import type { RegisterCommands } from './registry';

export const register: RegisterCommands = () => {};
