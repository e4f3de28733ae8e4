import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO, SHARED } from './support/paths';
import { servicesEnv } from './support/services';

// The product's main job (npm start): every chapter must run against the real services.
describe('metering demo (npm start)', () => {
  it('runs every chapter end to end and writes its plots and reports', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'metering-demo-'));
    const r = spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), 'demo', '--out', out], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, ...servicesEnv(), METERING_SHARED_DIR: SHARED },
      timeout: 240_000,
    });
    const story = r.stdout;
    expect(story, r.stderr).toContain('every step succeeded');
    expect(r.status).toBe(0);
    for (const chapter of ['Ingestion: real VM traces', 'Heat onboarding', 'Resource profiler', 'The autoscaler', 'Mediation, rating and an invoice', 'Licence compliance', 'Host agent', 'The operator console']) {
      expect(story).toContain(chapter);
    }
    expect(story).toMatch(/readiness ready: .*"kafka":\{"ok":true\}/);
    expect(story).toMatch(/redelivery\): stored 0, duplicates \d+: nothing stored twice/);
    expect(story).toMatch(/target ≥ 99\.500 %: met/);
    expect(story).toMatch(/exactly one add-shard/);
    expect(story).toMatch(/total \d+\.\d\d EUR/);
    expect(story).toMatch(/ALERT cores-exceeded: licence ora-demo: assigned (\d+), actual \d+/);
    expect(story).toMatch(/request\/reply: GET \/v1\/resources\/.+\/raw\?meter=hardware\.memory\.used → [1-9]\d* raw points from host/);
    expect(story).toMatch(/reconciliation over the data's last 48 h: ledger (\d+) vs store \1 samples .*every resource-hour matches/);
    expect(story).toMatch(/saved 8 panel screenshots .*no console errors/);
    expect(story).toMatch(/== operator console: http:\/\/127\.0\.0\.1:\d+\/ui\/  sign in with the API token: demo-/);
    for (const file of ['accuracy/accuracy.svg', 'profiler-cpu.svg', 'scaler-replay.svg', 'usage-report.html', 'compliance-report.html', 'console/pipeline.png', 'console/profiles.png', 'console/invoices.png']) expect(existsSync(path.join(out, file)), file).toBe(true);
  }, 300_000);
});
