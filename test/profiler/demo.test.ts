import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { controllerCaller, type DemoContext } from '../../cli/demo-context';
import { profilerDemoStep } from '../../profiler/demo';
import { profilerModule } from '../../profiler/module';
import { isolation } from '../support/isolation';
import { sharedPath } from '../support/paths';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-profiler-demo';
const dir = mkdtempSync(path.join(tmpdir(), 'profiler-demo-'));
let app: Application;

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'demo', token: ADMIN, roles: ['admin'] }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    profiler: { snapshot_path: path.join(dir, 'state.json'), snapshot_interval_s: 0 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [profilerModule] });
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('profiler demo step', () => {
  it('feeds traces through ingestion when nothing was replayed, ranks the VMs, places the store on large VMs and writes the plot', async () => {
    const lines: string[] = [];
    const state = new Map<string, unknown>();
    const ctx = {
      config: app.services.config,
      app,
      url: 'http://127.0.0.1:0',
      token: ADMIN,
      secret: '',
      services: {},
      outDir: path.join(dir, 'out'),
      shared: path.resolve(sharedPath('data'), '..'),
      call: controllerCaller(app, ADMIN),
      say: (l: string) => lines.push(l),
      state,
    } as unknown as DemoContext;
    await profilerDemoStep.run(ctx);
    const text = lines.join('\n');
    expect(text).toMatch(/Fed the last 12 h of 12 Bitbrains VMs/);
    expect(text).toMatch(/Profiler: 12 VMs tracked/);
    // 27 (32 vCPUs, ~4 % CPU) has by far the most free CPU
    expect(state.get('profiler.top_vms')).toEqual(expect.arrayContaining(['27']));
    expect((state.get('profiler.top_vms') as string[])[0]).toBe('27');
    expect(text).toMatch(/Recommendation, defaults \(profiler\.targets\): \d+ shard\(s\) × \d+ member\(s\)/);
    // members go on VMs large enough for a mongod + cache within +10 pp memory, never the 1 vCPU / 4 GiB ones
    const placed = [...text.matchAll(/→ VM (\S+):/g)].map((m) => m[1]);
    expect(placed.length).toBeGreaterThan(0);
    for (const small of ['184', '174', '214']) expect(placed).not.toContain(small);
    const svg = path.join(dir, 'out', 'profiler-cpu.svg');
    expect(existsSync(svg)).toBe(true);
    expect(readFileSync(svg, 'utf8')).toMatch(/VM 27 \(32 vCPU\)/);
  });
});
