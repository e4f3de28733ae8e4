import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import type { Sample } from '../../pipeline/sample';
import { profilerModule, type ProfilerModule } from '../../profiler/module';
import { isolation } from '../support/isolation';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';

const iso = isolation(import.meta.url);
const READ = 'read-token-profiler-module';
const P1 = 'read-token-scoped-to-p1';
const INGEST_ONLY = 'ingest-token-profiler-module';
const dir = mkdtempSync(path.join(tmpdir(), 'profiler-module-'));
const snapshotPath = path.join(dir, 'nested', 'state.json');

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

/** What a compute agent sends for one VM at poll i: size, CPU %, memory MiB used. */
function poll(vm: { id: string; name: string; project: string; vcpus: number; memMb: number }, i: number, cpuPct: number, memUsedMb: number): Sample[] {
  const md = { display_name: vm.name, vcpus: vm.vcpus, memory_mb: vm.memMb };
  const base = { user_id: 'u1', project_id: vm.project, resource_id: vm.id, timestamp: new Date(T0 + i * 300_000), resource_metadata: md, source: 'openstack', message_signature: '' };
  return [
    { ...base, counter_name: 'cpu_util', counter_type: 'gauge', counter_unit: '%', counter_volume: cpuPct, message_id: randomUUID() },
    { ...base, counter_name: 'memory.usage', counter_type: 'gauge', counter_unit: 'MB', counter_volume: memUsedMb, message_id: randomUUID() },
  ];
}

const VMS = [
  { id: randomUUID(), name: 'big-idle', project: 'p1', vcpus: 8, memMb: 32768, cpu: [10, 20, 30], mem: [4096, 4096, 8192] },
  { id: randomUUID(), name: 'small-idle', project: 'p2', vcpus: 1, memMb: 4096, cpu: [1, 2, 3], mem: [512, 512, 512] },
  { id: randomUUID(), name: 'big-busy', project: 'p2', vcpus: 8, memMb: 65536, cpu: [95, 90, 85], mem: [8192, 8192, 8192] },
];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function config(over: Record<string, unknown> = {}) {
  return meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'reader', token: READ, roles: ['read'] },
          { name: 'tenant-p1', token: P1, roles: ['read'], project: 'p1' },
          { name: 'ceilometer', token: INGEST_ONLY, roles: ['ingest'] },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    profiler: { snapshot_path: snapshotPath, snapshot_interval_s: 0, idle_ttl_s: 86_400, ...over },
  });
}

let app: Application;
const get = (url: string, token = READ) => app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const post = (url: string, body: unknown, token = READ) =>
  app.app.inject({ method: 'POST', url, payload: body as object, headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  app = await startApplication({ config: config(), log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [profilerModule] });
  const samples = VMS.flatMap((vm) => vm.cpu.flatMap((c, i) => poll(vm, i, c, vm.mem[i]!)));
  const result = await app.ingestion.ingestor.submit(samples);
  expect(result.stored).toBe(samples.length);
});

afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('profiler module in the running product', () => {
  it('profiles samples stored by ingestion: /v1/profiles has each VM with moving averages and headroom, most free CPU first', async () => {
    const res = await get('/v1/profiles');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.count).toBe(3);
    expect(body.vms.map((v: { name: string }) => v.name)).toEqual(['big-idle', 'small-idle', 'big-busy']);
    const big = body.vms[0];
    expect(big).toMatchObject({ vm: VMS[0]!.id, project: 'p1', vcpus: 8, memory_mb: 32768 });
    expect(big.resources.cpu).toEqual({ avg: mean(VMS[0]!.cpu), window: 3, samples: 3 });
    expect(big.resources.memory.avg).toBeCloseTo((mean(VMS[0]!.mem) / 32768) * 100, 9);
    expect(big.headroom.free_cpu_cores).toBeCloseTo(8 * (1 - mean(VMS[0]!.cpu) / 100), 9);
  });

  it('answers one VM by id or by name, 404 for an unknown one', async () => {
    const byId = await get(`/v1/profiles/${VMS[2]!.id}`);
    expect(byId.statusCode).toBe(200);
    expect(byId.json().resources.cpu.avg).toBeCloseTo(90, 9);
    expect((await get('/v1/profiles/small-idle')).json().vm).toBe(VMS[1]!.id);
    expect((await get('/v1/profiles/nope')).statusCode).toBe(404);
  });

  it('ranks the utilisation queues: most free CPU with at least X GiB free memory, most used first', async () => {
    const free = (await get('/v1/queues?resource=cpu&order=free&k=2&min_free_memory_gib=8')).json();
    // small-idle has < 8 GiB free, so the two are the big VMs, the idle one first
    expect(free.vms.map((v: { name: string }) => v.name)).toEqual(['big-idle', 'big-busy']);
    const busy = (await get('/v1/queues?resource=cpu&order=used&k=1')).json();
    expect(busy.vms[0].name).toBe('big-busy');
    expect(busy.vms[0].value).toBeCloseTo(90, 9);
    const cpuPct = (await get('/v1/queues?resource=memory&order=free&k=3&min_free_cpu_pct=50')).json();
    expect(cpuPct.vms.map((v: { name: string }) => v.name)).toEqual(['big-idle', 'small-idle']);
    const bad = await get('/v1/queues?resource=gpu');
    expect(bad.statusCode).toBe(400);
  });

  it('scopes by project: a project token sees only its VMs and may not ask for another project', async () => {
    const mine = (await get('/v1/profiles', P1)).json();
    expect(mine.vms.map((v: { name: string }) => v.name)).toEqual(['big-idle']);
    expect((await get(`/v1/profiles/${VMS[1]!.id}`, P1)).statusCode).toBe(404);
    expect((await get('/v1/profiles?project_id=p2', P1)).statusCode).toBe(403);
    expect((await get('/v1/queues?k=5', P1)).json().vms.map((v: { name: string }) => v.name)).toEqual(['big-idle']);
    const p2 = (await get('/v1/profiles?project_id=p2')).json();
    expect(p2.vms.map((v: { name: string }) => v.name).sort()).toEqual(['big-busy', 'small-idle']);
    const rec = (await post('/v1/predictor/recommendation', { bytes_per_day: 1e8, events_per_second: 5 }, P1)).json();
    expect(rec.candidates).toBe(1);
    expect(rec.placement.every((p: { vm: string }) => p.vm === VMS[0]!.id)).toBe(true);
  });

  it('needs the read role', async () => {
    expect((await get('/v1/profiles', INGEST_ONLY)).statusCode).toBe(403);
    expect((await app.app.inject({ method: 'GET', url: '/v1/queues' })).statusCode).toBe(401);
  });

  it('lists the routes in /openapi.json and the counters in /metrics', async () => {
    const spec = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const p of ['/v1/profiles', '/v1/profiles/{vm}', '/v1/queues', '/v1/predictor/recommendation']) expect(Object.keys(spec.paths)).toContain(p);
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/^metering_profiler_samples_accepted_total 18$/m);
    expect(metrics).toMatch(/^metering_profiler_vms_tracked 3$/m);
  });

  it('recommends a placement on named live VMs and never above the caps given', async () => {
    const volume = { bytes_per_day: 3e8, events_per_second: 30 };
    const targets = { query_ms: 60_000, query_rate_per_s: 0.001 };
    const rec = (await post('/v1/predictor/recommendation', { ...volume, targets })).json();
    expect(rec.feasible).toBe(true);
    expect(rec.placement.length).toBe(rec.shards * rec.replicas);
    const names = new Set(VMS.map((v) => v.name));
    for (const p of rec.placement) {
      expect(names.has(p.name)).toBe(true);
      expect(p.extra_cpu_pp).toBeLessThanOrEqual(15);
      expect(p.extra_memory_pp).toBeLessThanOrEqual(10);
    }
    // the 1 vCPU / 4 GiB VM cannot take a mongod + cache within +10 pp memory
    expect(rec.placement.some((p: { name: string }) => p.name === 'small-idle')).toBe(false);
    // a memory cap no member can meet: no placement, and the explanation says why
    const tight = (await post('/v1/predictor/recommendation', { ...volume, targets, caps: { memory_pp: 0.5 } })).json();
    expect(tight.feasible).toBe(false);
    expect(tight.placement).toEqual([]);
    expect(tight.caps.memory_pp).toBe(0.5);
    expect(tight.explanation.join(' ')).toMatch(/memory/);
    const bad = await post('/v1/predictor/recommendation', { ...volume, caps: { memory_pct: 5 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/memory_pct/);
  });

  it('saves the snapshot on close and a new app restores the same profiles', async () => {
    const before = (await get('/v1/profiles')).json();
    await app.close();
    expect(existsSync(snapshotPath)).toBe(true);
    expect(JSON.parse(readFileSync(snapshotPath, 'utf8')).vms).toHaveLength(3);
    app = await startApplication({ config: config(), log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [profilerModule] });
    const mod = app.modules.find((m) => m.name === 'profiler') as ProfilerModule;
    expect(mod.profiler.size).toBe(3);
    const after = (await get('/v1/profiles')).json();
    expect(after.vms).toEqual(before.vms);
    expect((await get('/v1/profiles', P1)).json().count).toBe(1);
  });
});
