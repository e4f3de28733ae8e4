#!/usr/bin/env node
// The host agent alone (`metering-agent run …` = `metering agent run …`). It runs from one bundled
// file, .cache/metering-agent.mjs, built with esbuild from agent/main.ts on first use and rebuilt
// whenever a source it includes is newer, so a host pays for neither the TypeScript loader nor the
// rest of the product's modules (the agent's RSS budget is 50 MB). Run it as
//   node --lite-mode --max-semi-space-size=1 bin/metering-agent.mjs run …
// for the smallest footprint (docs/agent.md has the measured figures).
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, '.cache', 'metering-agent.mjs');
const meta = `${out}.inputs.json`;

function stale() {
  if (!existsSync(out) || !existsSync(meta)) return true;
  const built = statSync(out).mtimeMs;
  try {
    return JSON.parse(readFileSync(meta, 'utf8')).some((f) => !existsSync(path.join(root, f)) || statSync(path.join(root, f)).mtimeMs > built);
  } catch {
    return true;
  }
}

if (stale()) {
  const { build, stop } = await import('esbuild');
  mkdirSync(path.dirname(out), { recursive: true });
  const r = await build({
    stdin: { contents: "import { main } from './agent/main.ts';\nawait main(process.argv);\n", resolveDir: root, loader: 'ts', sourcefile: 'metering-agent.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: `${out}.${process.pid}.tmp`, // renamed into place: two agents starting at once never read a half-written bundle
    metafile: true,
    logLevel: 'error',
  });
  writeFileSync(`${meta}.${process.pid}.tmp`, JSON.stringify(Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('<'))));
  renameSync(`${out}.${process.pid}.tmp`, out);
  renameSync(`${meta}.${process.pid}.tmp`, meta);
  await stop(); // esbuild's service process is not needed while the agent runs
}
await import(pathToFileURL(out).href);
