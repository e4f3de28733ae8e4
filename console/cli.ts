import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RegisterCommands } from '../cli/registry';
import { buildConsoleAssets } from './bundle';

/**
 * `metering console build [--out DIR]`: build the console's browser assets as `metering serve` does
 * at start, print their sizes and the build time, and optionally write them out (e.g. to look at
 * them, or to serve /ui/ from a proxy).
 */
export const register: RegisterCommands = (program) => {
  const cmd = program.command('console').description('the operator console served at /ui/ by metering serve');
  cmd
    .command('build')
    .description('build the console assets (Preact, htm, uPlot bundled by esbuild) and print their sizes; --out writes them')
    .option('--out <dir>', 'write index.html, app.js and app.css here')
    .action(async (opts: { out?: string }) => {
      const t0 = performance.now();
      const assets = await buildConsoleAssets();
      const ms = performance.now() - t0;
      for (const [name, a] of assets) process.stdout.write(`${name.padEnd(12)} ${a.body.length.toLocaleString('en')} bytes\n`);
      process.stdout.write(`built in ${ms.toFixed(0)} ms\n`);
      if (opts.out) {
        mkdirSync(opts.out, { recursive: true });
        for (const [name, a] of assets) writeFileSync(path.join(opts.out, name), a.body);
        process.stdout.write(`written to ${opts.out}\n`);
      }
    });
};
