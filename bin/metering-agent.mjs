#!/usr/bin/env node
// The host agent alone (`metering-agent run …` = `metering agent run …`). It runs from a bundle,
// .cache/metering-agent.mjs (+ .cache/metering-agent-bundle/), built with esbuild from agent/entry.ts on first use and rebuilt
// whenever a source it includes is newer, so a host pays for neither the TypeScript loader nor the
// rest of the product's modules (the agent's RSS budget is 50 MB). Run it as
//   node --no-opt --max-semi-space-size=1 bin/metering-agent.mjs run …
// for the smallest footprint (docs/agent.md has the measured figures).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  const bundle = path.join(root, '.cache', 'metering-agent-bundle');
  const tmp = path.join(root, '.cache', `metering-agent-build.${process.pid}`);
  mkdirSync(bundle, { recursive: true });
  const r = await build({
    entryPoints: [path.join(root, 'agent', 'entry.ts')],
    bundle: true,
    splitting: true, // dynamic imports stay lazy: a host loads kafkajs, ioredis, js-yaml only when it uses them
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outdir: tmp,
    entryNames: 'metering-agent-[hash]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'error',
  });
  // every file is named by its content hash: moving them in never changes a file a running agent
  // may still load lazily; the small pointer file is renamed into place last, so two agents
  // starting at once never read a half-written bundle
  let entry = '';
  for (const f of Object.keys(r.metafile.outputs)) {
    const name = path.basename(f);
    if (r.metafile.outputs[f].entryPoint === 'agent/entry.ts') entry = name;
    renameSync(path.join(tmp, name), path.join(bundle, name));
  }
  rmSync(tmp, { recursive: true, force: true });
  writeFileSync(`${meta}.${process.pid}.tmp`, JSON.stringify(Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('<'))));
  writeFileSync(`${out}.${process.pid}.tmp`, `await import('./metering-agent-bundle/${entry}');\n`);
  renameSync(`${out}.${process.pid}.tmp`, out);
  renameSync(`${meta}.${process.pid}.tmp`, meta);
  await stop(); // esbuild's service process is not needed while the agent runs
}
await import(pathToFileURL(out).href);
