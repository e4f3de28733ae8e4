import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { controllerCaller, type DemoContext } from '../../cli/demo-context';
import { scalerDemoStep, syntheticSeries, traceSegments, traceSeries } from '../../scaler/demo';
import { scalerModule } from '../../scaler/module';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { sharedPath } from '../support/paths';
import { mongoTier } from '../support/services';

const iso = isolation(import.meta.url);
const TOKEN = 'admin-token-for-scaler-demo-test';
const shared = path.resolve(sharedPath('data'), '..');
const haveTraces = existsSync(path.join(shared, 'data', 'traces', 'bitbrains-rnd'));
if (!haveTraces) console.warn('skipped trace-derived demo series: no shared Bitbrains traces');

let app: Application;
let out: string;
beforeAll(async () => {
  const config = meteringConfig.parse({ controller: { auth: { tokens: [{ name: 'demo', token: TOKEN, roles: ['admin'] }] } }, store: testStoreConfig(iso.dbName()), ingest: testIngestConfig() });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [scalerModule] });
  out = mkdtempSync(path.join(os.tmpdir(), 'scaler-demo-'));
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function runStep(opts: { shared?: string; estimate?: unknown }): Promise<string[]> {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n'));
    return true;
  });
  const state = new Map<string, unknown>();
  if (opts.estimate) state.set('estimate', opts.estimate);
  const ctx: DemoContext = { config: app.services.config, app, url: '', token: TOKEN, secret: '', services: { started: [], errors: {}, mongoTier: mongoTier() } as unknown as DemoContext['services'], outDir: out, shared: opts.shared, call: controllerCaller(app, TOKEN), say: (l) => lines.push(l), state };
  try {
    await scalerDemoStep.run(ctx);
  } finally {
    write.mockRestore();
  }
  if (process.env.SCALER_DEMO_PRINT) console.log(lines.join('\n'));
  return lines;
}

describe('trace segments', () => {
  it('splices a real isolated spike and a real 3–8 sample overload, each with an hour of calm around', () => {
    const calm = Array.from({ length: 30 }, () => 20);
    const cpu = [...calm, 95, ...calm, 92, 93, 95, 96, ...calm];
    const seg = traceSegments(cpu)!;
    expect(seg.spike).toHaveLength(25);
    expect(seg.spike.filter((v) => v > 90)).toEqual([95]);
    expect(seg.sustained.filter((v) => v > 90)).toEqual([92, 93, 95, 96]);
    // an overload of 9 samples (40 min) would legitimately scale out twice: not used
    expect(traceSegments([...calm, 95, ...calm, ...Array(9).fill(95), ...calm])).toBeUndefined();
  });
});

describe('demo step', () => {
  it.skipIf(!haveTraces)('on Bitbrains traces: no action for the spike, exactly one add-shard for the sustained load, chart and cluster tier', async () => {
    const s = traceSeries(shared)!;
    expect(s.source).toMatch(/^Bitbrains VM \d+/);
    const lines = await runStep({ shared });
    const text = lines.join('\n');
    expect(text).toMatch(/✓ spike .*: no action {3}✓ sustained overload: exactly one add-shard/);
    expect(lines.filter((l) => /^ {2}\d\d:\d\d {2}add-shard: sh0 cpu/.test(l))).toHaveLength(1);
    expect(text).toMatch(/\^ add-shard \(\d\d:\d\d\)/);
    expect(readFileSync(path.join(out, 'scaler-replay.svg'), 'utf8')).toMatch(/^<svg[\s\S]*add-shard/);
    if (mongoTier() === 'standin') expect(text).toContain('tier: replayed: the stand-in has no sharding (set MONGO_BIN_DIR for a real cluster)');
  });

  it('synthetic without shared data; with an onboarding estimate it shows the predictive scale-out', async () => {
    const s = syntheticSeries();
    expect(s.sustained[0]).toBe(s.spike[1]);
    // a small stack: 30 MB/day, ~3 events/s
    const lines = await runStep({ estimate: { bytes: { per_day: 3e7 }, events: { per_day: 250_000 } } });
    const text = lines.join('\n');
    expect(text).toMatch(/^load: synthetic/m);
    expect(text).toContain('✓ sustained overload: exactly one add-shard');
    expect(text).toMatch(/registered \(POST \/v1\/scaler\/onboarding\), acted on at 2026-01-05T02:00:00.000Z/);
    expect(text).toMatch(/no scale-out for one stack/);
    expect(text).toMatch(/such stacks arriving at once: add-shard .* at 02:00, before the data \(03:00\): predictive:/);
  });
});
