import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConsoleAssets } from '../../console/bundle';
import { REPO } from '../support/paths';

describe('console assets', () => {
  it('are one page, one script and one stylesheet, all served by the controller (nothing from another origin)', async () => {
    const assets = await buildConsoleAssets();
    expect([...assets.keys()].sort()).toEqual(['app.css', 'app.js', 'index.html']);
    const html = assets.get('index.html')!.body.toString();
    expect(html).toMatch(/<script type="module" src="\.\/app\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="\.\/app\.css">/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = assets.get('app.js')!.body.toString();
    expect(js).not.toMatch(/import\s*\(?\s*["']https?:/);
    expect(js).toContain('uplot'); // the charting library is inside the bundle
    expect(assets.get('app.css')!.body.toString()).toContain('.uplot');
  });

  it('metering console build writes them and says how big they are', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'console-build-'));
    const r = spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), 'console', 'build', '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/app\.js\s+[\d,]+ bytes/);
    expect(r.stdout).toMatch(/built in \d+ ms/);
    for (const f of ['index.html', 'app.js', 'app.css']) expect(existsSync(path.join(out, f)), f).toBe(true);
  });
});
