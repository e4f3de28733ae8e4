#!/usr/bin/env node
// CLI entry point. Runs the TypeScript sources through tsx's loader so there is no build step
// to forget: what you edit is what runs.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
