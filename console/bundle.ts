import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's browser assets, built in memory when the controller starts: esbuild bundles
 * console/ui/main.ts with Preact, htm and uPlot from node_modules into one script and one stylesheet.
 * Nothing is fetched from elsewhere at run time (no CDN) and nothing built is committed, so the
 * assets always match the code; the build takes well under a second.
 */

export interface ConsoleAsset {
  body: Buffer;
  type: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const UI_DIR = path.join(HERE, 'ui');

export async function buildConsoleAssets(): Promise<Map<string, ConsoleAsset>> {
  const result = await build({
    entryPoints: [path.join(UI_DIR, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: ['es2020'],
    minify: true,
    sourcemap: false,
    outdir: '/ui',
    entryNames: 'app',
    loader: { '.css': 'css' },
    logLevel: 'silent',
    legalComments: 'none',
  });
  const assets = new Map<string, ConsoleAsset>();
  for (const f of result.outputFiles) {
    const name = path.basename(f.path);
    assets.set(name, { body: Buffer.from(f.contents), type: name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8' });
  }
  assets.set('index.html', { body: readFileSync(path.join(UI_DIR, 'index.html')), type: 'text/html; charset=utf-8' });
  return assets;
}
