import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { scalerModule, scalerOf, onboard, type ScalerModule } from '../../scaler/module';
import { observationToJson } from '../../scaler/metrics';
import { synthesize } from '../../scaler/synth';
import { DECISIONS_COLLECTION } from '../../scaler/decisions';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { mongoTier, mongoUri } from '../support/services';

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-for-scaler-module';
const READ = 'read-token-for-scaler-module';
const INGEST = 'ingest-token-for-scaler-module';

let app: Application;
let scaler: ScalerModule['scaler'];
const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });

/** A synthetic scenario as the JSON objects `POST /v1/scaler/evaluate` takes (the lines of `scaler replay`). */
const series = (scenario: 'spike' | 'sustained' | 'onboarding' | 'read-heavy') => {
  const s = synthesize({ scenario });
  return [
    ...s.onboarding.map((e) => ({ t: e.t.toISOString(), onboarding: { arrives_at: e.arrives_at.toISOString(), bytes_per_day: e.bytes_per_day, events_per_s: e.events_per_s } })),
    ...s.observations.map(observationToJson),
  ];
};

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'ops', token: ADMIN, roles: ['admin'] },
          { name: 'dashboard', token: READ, roles: ['read'] },
          { name: 'heat-hook', token: INGEST, roles: ['ingest'] },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    // the loop is driven round by round in the test (tick) rather than on a timer
    scaler: { loop: { enabled: false, actuate: true } },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [scalerModule] });
  scaler = (app.modules.find((m) => m.name === 'scaler') as ScalerModule).scaler;
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('scaler module in the running product', () => {
  it('GET /v1/cluster describes the deployment; on a non-sharded one it says so and gives the dbStats size', async () => {
    const res = await call('GET', '/v1/cluster', READ);
    expect(res.statusCode).toBe(200);
    const c = res.json();
    expect(c.policy).toMatchObject({ minShards: 1, maxShards: 16 });
    expect(c.loop).toMatchObject({ enabled: false, running: false });
    if (c.sharded) {
      expect(c.topology.kind).toBe('sharded');
      expect(c.shards.length).toBe(c.shardCount);
      expect(c.balancer.mode).toBeTypeOf('string');
    } else {
      expect(['standalone', 'replica-set']).toContain(c.topology.kind);
      expect(c.note).toMatch(/not a sharded cluster/);
      expect(c.shards).toEqual([]);
      expect(c.storage.database).toBe(app.services.db.databaseName);
      expect(c.storage.dataBytes).toBeTypeOf('number');
      expect(c.loop.actuation).toMatch(/^recorded only: not a sharded cluster/);
    }
    if (mongoTier() === 'standin') expect(c.topology.server).toBe('stand-in');
  });

  it('evaluate: a short spike decides nothing, a sustained overload adds exactly one shard', async () => {
    const spike = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('spike') });
    expect(spike.statusCode).toBe(200);
    expect(spike.json()).toMatchObject({ source: 'series', decisions: [] });
    expect(spike.json().evaluations).toBeGreaterThan(30);

    const sustained = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('sustained') });
    const body = sustained.json();
    expect(body.decisions.map((d: { action: string }) => d.action)).toEqual(['add-shard']);
    const d = body.decisions[0];
    expect(d.reason).toMatch(/sh0 cpu .* > 90 for 10m: add a shard \(2 → 3\)/);
    expect(d.inputs).toMatchObject({ shardCount: 2, hot: [expect.objectContaining({ shard: 'sh0', metric: 'cpu' })] });
    // the load started at minute 60; three hot 5-minute samples span the 10-minute window
    expect(d.t).toBe('2026-01-05T01:10:00.000Z');
  });

  it('evaluate with ?all=true returns every evaluation; a policy override changes the outcome', async () => {
    const all = await call('POST', '/v1/scaler/evaluate?all=true', ADMIN, { series: series('sustained') });
    expect(all.json().decisions).toHaveLength(all.json().evaluations);
    // with a 1-hour window on the only cpu rule, 40 minutes of load is not enough
    const lax = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('sustained'), policy: { scaleOut: [{ metric: 'cpu', above: 90, for: '1h' }] } });
    expect(lax.json().decisions).toEqual([]);
  });

  it('a read-heavy add-replica says which reads will move to the new secondaries (store.reads)', async () => {
    const res = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('read-heavy') });
    expect(res.statusCode).toBe(200);
    const d = res.json().decisions.find((x: { action: string }) => x.action === 'add-replica');
    expect(d.reason).toMatch(/reads that move to the new secondaries \(secondaryPreferred, maxStalenessSeconds 90\): usage reports .*; estimator lookups .*; stay on the primary: mediation's read of raw samples; billing reads \(read concern majority, primary\)/);
    expect(d.inputs.reads.moves.length).toBe(2);
  });

  it('evaluate rejects a bad series item or policy with the place of the error', async () => {
    const bad = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: [{ t: '2026-01-01T00:00:00Z', shard: 'sh0', cpu: 50 }, { t: '2026-01-01T00:05:00Z', shard: 'sh0', cpux: 50 }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^series\[1\]: unknown field\(s\) cpux/);
    const badPolicy = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('spike'), policy: { scaleOut: [{ metric: 'cpu', above: 90, for: '10x' }] } });
    expect(badPolicy.statusCode).toBe(400);
    expect(badPolicy.json().message).toMatch(/policy\.scaleOut\.0\.for: invalid duration "10x"/);
  });

  it('roles: read sees state and history but cannot evaluate (least of all actuate); ingest may register onboarding', async () => {
    expect((await call('POST', '/v1/scaler/evaluate?actuate=true', READ, { series: series('sustained') })).statusCode).toBe(403);
    expect((await call('POST', '/v1/scaler/evaluate', READ, { series: series('sustained') })).statusCode).toBe(403);
    expect((await call('POST', '/v1/scaler/evaluate', INGEST, {})).statusCode).toBe(403);
    expect((await call('GET', '/v1/scaler/decisions', INGEST)).statusCode).toBe(403);
    expect((await app.app.inject({ method: 'GET', url: '/v1/cluster' })).statusCode).toBe(401);
    const r = await call('POST', '/v1/scaler/onboarding', INGEST, { at: '2030-01-01T00:00:00Z', bytes_per_day: 1e6, events_per_second: 2, stack_id: 'from-ingest' });
    expect(r.statusCode).toBe(202);
  });

  it('a what-if never actuates: ?actuate=true with a posted series or policy is refused with 400 saying why, and nothing is stored or carried out', async () => {
    const before = await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({});
    const actuations = { ...scaler.counters.actuations };
    for (const body of [{ series: series('sustained') }, { policy: { minShards: 1 } }, { series: series('sustained'), policy: { minShards: 1 } }]) {
      const res = await call('POST', '/v1/scaler/evaluate?actuate=true', ADMIN, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/actuate=true cannot be combined with a posted (series|policy).*what-if evaluation is never carried out/);
    }
    expect(await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({})).toBe(before);
    expect(scaler.counters.actuations.done + scaler.counters.actuations.failed).toBe(0);
    // the same series without actuate is an ordinary what-if (200, decisions returned, nothing stored)
    const whatIf = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('sustained') });
    expect(whatIf.statusCode).toBe(200);
    expect(whatIf.json().decisions.map((d: { action: string }) => d.action)).toContain('add-shard');
    expect(await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({})).toBe(before);
    // its add-shard was neither carried out nor handed to the actuation path (which would count it as skipped here)
    expect(scaler.counters.actuations).toEqual(actuations);
    expect(scaler.counters.actuations.done + scaler.counters.actuations.failed).toBe(0);
  });

  it('on a deployment without mongos, a live ?actuate=true round is refused (409) with the reason and nothing is carried out', async () => {
    const topo = await scaler.currentTopology();
    if (topo.kind === 'sharded') {
      console.warn('skipped: the run\'s MongoDB is a sharded cluster (this case covers non-sharded deployments)');
      return;
    }
    const res = await call('POST', '/v1/scaler/evaluate?actuate=true', ADMIN);
    expect(res.statusCode).toBe(409);
    expect(res.json().reason).toMatch(/not a sharded cluster.*no mongos to addShard to/);
    expect(scaler.counters.actuations.done + scaler.counters.actuations.failed).toBe(0);
  });

  it('the loop stores every round with its inputs and, without mongos, never actuates: actions are stored as skipped with the reason', async () => {
    const topo = await scaler.currentTopology();
    const before = scaler.counters.rounds;
    const first = await scaler.tick();
    expect(first).toBeDefined();
    expect(scaler.counters.rounds).toBe(before + 1);
    const [stored] = (await call('GET', '/v1/scaler/decisions?limit=1', READ)).json().decisions;
    expect(stored).toMatchObject({ source: 'loop', action: first!.action, inputs: { topology: topo.kind, collected: 1 } });
    if (topo.kind === 'sharded') return;

    // Feed the loop's policy a sustained overload of the server as if its VM were hot: the policy
    // decides add-shard, and the loop stores it as skipped instead of trying addShard.
    const shard = first!.inputs.shards ? Object.keys(first!.inputs.shards as object)[0] ?? 'standalone' : 'standalone';
    let cpu = 97;
    const host = topo.host?.split(':')[0] ?? new URL(mongoUri()).hostname;
    scaler.useVmLoad(() => ({ [host]: { cpu, memory: 40 } }));
    let t = Date.now();
    const clock = { now: () => new Date(t) };
    (scaler as unknown as { d: { now?: () => Date } }).d.now = clock.now;
    const actions: string[] = [];
    for (let i = 0; i < 4; i++) {
      t += 5 * 60_000;
      const d = await scaler.tick();
      actions.push(d!.action);
    }
    cpu = 30;
    expect(actions).toContain('add-shard');
    const acted = (await call('GET', '/v1/scaler/decisions?action=add-shard', READ)).json().decisions;
    expect(acted.length).toBe(1);
    expect(acted[0]).toMatchObject({ source: 'loop', outcome: { status: 'skipped', detail: expect.stringMatching(/not a sharded cluster/) }, inputs: { topology: topo.kind } });
    expect(acted[0].reason).toMatch(new RegExp(`${shard} cpu 97 > 90 for 10m`));
    expect(scaler.counters.actuations).toMatchObject({ done: 0, failed: 0, skipped: 1 });
  });

  it('decisions: newest first, filtered by action, limited', async () => {
    const all = (await call('GET', '/v1/scaler/decisions?limit=100', READ)).json().decisions as { t: string; action: string }[];
    expect(all.length).toBeGreaterThanOrEqual(5);
    const times = all.map((d) => Date.parse(d.t));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect((await call('GET', '/v1/scaler/decisions?limit=2', READ)).json().decisions).toHaveLength(2);
    const none = (await call('GET', '/v1/scaler/decisions?action=none', READ)).json().decisions as { action: string }[];
    expect(none.every((d) => d.action === 'none')).toBe(true);
    expect((await call('GET', '/v1/scaler/decisions?action=grow', READ)).statusCode).toBe(400);
    expect(await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({ source: 'loop' })).toBe(all.filter((d) => (d as { source?: string }).source === 'loop').length);
  });

  it('counters appear in /metrics', async () => {
    const text = (await call('GET', '/metrics', READ)).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('metering_scaler_rounds_total')).toBe(scaler.counters.rounds);
    expect(value('metering_scaler_rounds_total')).toBeGreaterThanOrEqual(5);
    expect(value('metering_scaler_decisions_add_shard_total')).toBe(scaler.counters.byAction['add-shard']);
    expect(value('metering_scaler_last_evaluation_timestamp_seconds')).toBeGreaterThan(1.7e9);
  });

  it('onboarding: the route registers an estimate, the in-process hook reaches the same scaler, and the loop gets it', async () => {
    const bad = await call('POST', '/v1/scaler/onboarding', ADMIN, { at: 'tomorrow', bytes_per_day: 1, events_per_second: 1 });
    expect(bad.statusCode).toBe(400);
    const ok = await call('POST', '/v1/scaler/onboarding', ADMIN, { at: '2030-06-01T12:00:00Z', bytes_per_day: 5e9, events_per_second: 300, stack_id: 'stack-a' });
    expect(ok.statusCode).toBe(202);
    expect(ok.json()).toMatchObject({ registered: { stack_id: 'stack-a', bytes_per_day: 5e9, events_per_second: 300 }, trigger_at: '2030-06-01T11:00:00.000Z' });
    expect(scalerOf(app.services)).toBe(scaler);
    const r = await onboard(app.services, { at: new Date('2030-06-02T00:00:00Z'), bytes_per_day: 1e9, events_per_second: 10, stack_id: 'stack-b' });
    expect(r?.triggerAt.toISOString()).toBe('2030-06-01T23:00:00.000Z');
    const pending = scaler.signals.pending().map((e) => e.label);
    expect(pending).toEqual(expect.arrayContaining(['stack-a', 'stack-b']));
    expect(await app.services.db.collection('scaler_onboarding').countDocuments({ status: 'pending' })).toBe(pending.length);
    await scaler.tick(); // the loop drains them into its policy
    expect(scaler.signals.pending()).toEqual([]);
    expect(await app.services.db.collection('scaler_onboarding').countDocuments({ status: 'pending' })).toBe(0);
  });

  it('evaluate over a series with an onboarding estimate scales out ahead of the data', async () => {
    const res = await call('POST', '/v1/scaler/evaluate', ADMIN, { series: series('onboarding') });
    const ds = res.json().decisions as { t: string; action: string; reason: string; count?: number }[];
    expect(ds[0]).toMatchObject({ action: 'add-shard', t: '2026-01-05T02:00:00.000Z' });
    expect(ds[0]!.reason).toMatch(/^predictive:/);
  });

  it('every scaler route is in /openapi.json with a summary', async () => {
    const doc = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [p, m] of [['/v1/cluster', 'get'], ['/v1/scaler/decisions', 'get'], ['/v1/scaler/evaluate', 'post'], ['/v1/scaler/onboarding', 'post']] as const) {
      expect(doc.paths[p]?.[m]?.summary, `${m} ${p}`).toBeTypeOf('string');
    }
  });
});

describe('scaler.loop.enabled', () => {
  it('runs the loop on its interval from start-up and stops it promptly on close', async () => {
    const config = meteringConfig.parse({
      controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }] } },
      store: testStoreConfig(iso.dbName('loop')),
      ingest: testIngestConfig(),
      scaler: { loop: { enabled: true, interval: '1h' } },
    });
    const looping = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [scalerModule] });
    const s = (looping.modules.find((m) => m.name === 'scaler') as ScalerModule).scaler;
    try {
      // the first round runs right away, the next one would be an hour later
      for (let i = 0; i < 50 && s.counters.rounds === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(s.counters.rounds).toBe(1);
      expect((await looping.app.inject({ method: 'GET', url: '/v1/cluster', headers: { authorization: `Bearer ${ADMIN}` } })).json().loop).toMatchObject({ enabled: true, running: true, rounds: 1 });
    } finally {
      const t0 = Date.now();
      await looping.services.db.dropDatabase().catch(() => undefined);
      await looping.close();
      expect(Date.now() - t0).toBeLessThan(5000); // not the 1 h interval
    }
    expect(s.loopRunning).toBe(false);
  });
});
