import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import pino from 'pino';
import { FenceStore } from '../../cluster/fence';
import type { Leadership } from '../../cluster/leadership';
import { ALERTS_COLLECTION, AlertStore, type Alert, type AlertEvent } from '../../compliance/alerts';
import { ClusterEvaluator, readLive } from '../../compliance/cluster-evaluator';
import { parseLicenses } from '../../compliance/license';
import { LicenseRepository } from '../../compliance/repository';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { isolation } from '../support/isolation';
import { connect } from '../pipeline/ingest/helpers';

/**
 * The cluster's compliance evaluator and the once-only alert writes against the real store: two
 * evaluators (a paused former leader that wakes up, and the new one) evaluating at different T
 * store one alert per violation; the older one's actions are fenced out; racing opens of one key
 * store one alert; a former leader whose open lands after the new leader's (or before it) leaves one
 * open alert; open alerts stored before the one-open-per-key index get their key.
 */
const iso = isolation(import.meta.url);
const log = pino({ level: 'silent' });
let client: MongoClient;
let db: Db;

/** The leadership of an evaluator holding `token` (the fence is the real one in the store). */
function holding(fences: FenceStore, id: string, token: number): Leadership {
  return {
    role: 'compliance',
    clustered: true,
    leading: () => true,
    leader: () => id,
    token: () => token,
    fence: async () => {
      await fences.advance({ role: 'compliance', token }, id);
      return { role: 'compliance', token };
    },
    onChange: () => undefined,
  };
}

let seq = 0;
async function instance(id: string, vcpus: number, t: Date): Promise<void> {
  await db.collection(COLLECTIONS.meter).insertOne({
    resource_id: id, project_id: 'p-fin', timestamp: t, message_id: `m-${++seq}`, counter_name: 'cpu_util', counter_volume: 1,
    resource_metadata: { vcpus, instance_host: 'hv-1', user_metadata: { product: 'oracle-db' } },
  });
}

function opened(key: string, at: string): AlertEvent {
  const alert: Alert = { id: `${key}@${at}`, key, state: 'open', kind: 'cores-exceeded', license_id: 'l', resource_id: null, project_id: null, assigned: 8, actual: 12, opened_at: at, resolved_at: null, samples: [] };
  return { event: 'opened', alert };
}

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

describe('cluster compliance evaluation (real MongoDB)', () => {
  it('a woken former evaluator and the new one store one alert; the former is fenced out', async () => {
    const licenses = new LicenseRepository(db);
    await licenses.ensureIndexes();
    for (const l of parseLicenses('licenses:\n  - {id: ora, product: oracle-db, match: {project_id: p-fin}, cores: 8}\n', 'test')) await licenses.record(l, 'test');
    const alerts = new AlertStore(db);
    await alerts.ensureIndexes();
    const fences = new FenceStore(db);
    const t0 = new Date(Date.now() - 60_000);
    for (const [i, vm] of ['a', 'b', 'c'].entries()) await instance(vm, 4, new Date(t0.getTime() + i * 1000));
    const events: Record<string, AlertEvent[]> = { old: [], new: [] };
    const make = (who: 'old' | 'new', token: number) =>
      new ClusterEvaluator({ db, leadership: holding(fences, who, token), controller: who, licenses, alerts, activeWindowS: 3600, maxFutureSkewS: 300, intervalMs: 60_000, log, onEvents: (e) => events[who]!.push(...e) });
    const old = make('old', 1);
    const neu = make('new', 2);

    expect((await old.evaluateNow())?.violations.map((v) => v.kind)).toEqual(['cores-exceeded']);
    await instance('d', 4, new Date(t0.getTime() + 5000)); // T moves: the new evaluator's alert id would differ
    expect((await neu.evaluateNow())?.violations.map((v) => v.actual)).toEqual([16]);
    expect((await old.evaluateNow())).toBeUndefined(); // woke after the new one acted: refused
    expect(old.stats.fenced_out).toBe(1);

    const stored = await db.collection(ALERTS_COLLECTION).find({}).toArray();
    // opened with token 1; the new evaluator's fence advance raised the token it carries to 2
    expect(stored.map((a) => [a.kind, a.state, a.fence])).toEqual([['cores-exceeded', 'open', { compliance: 2 }]]);
    expect(events.old.map((e) => e.event)).toEqual(['opened']);
    expect(events.new).toEqual([]);
    expect(await readLive(db)).toMatchObject({ controller: 'new', token: 2, violations: 1, instances: 4 });

    // a stale token cannot resolve what the newer evaluator keeps open
    const [a] = await alerts.open();
    expect(await alerts.applyClaimed({ event: 'resolved', alert: { ...a!, state: 'resolved', resolved_at: new Date().toISOString() } }, { role: 'compliance', token: 0 })).toBe(false);
    expect((await alerts.open()).length).toBe(1);
    expect(await db.collection(ALERTS_COLLECTION).countDocuments({ open_key: a!.key })).toBe(1); // it still holds its key
  });

  it('racing opens of one violation at different T store one alert; a resumed former leader adds no second one', async () => {
    const alerts = new AlertStore(db);
    await alerts.ensureIndexes();
    const fence = { role: 'compliance', token: 5 };
    for (let round = 0; round < 5; round++) {
      const key = `k-race-${round}`;
      const results = await Promise.all([alerts.applyClaimed(opened(key, '2026-06-01T00:00:00.000Z'), fence), alerts.applyClaimed(opened(key, '2026-06-01T00:00:05.000Z'), { ...fence, token: 6 })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await db.collection(ALERTS_COLLECTION).countDocuments({ key })).toBe(1);
    }
    // a former leader (token 4) evaluated at T1 and passed its fence, then paused; the new leader (token 5)
    // opened the alert at T2; the former one resumes and writes its open: refused, one open alert
    expect(await alerts.applyClaimed(opened('k-resume', '2026-06-01T00:00:05.000Z'), fence)).toBe(true);
    expect(await alerts.applyClaimed(opened('k-resume', '2026-06-01T00:00:00.000Z'), { ...fence, token: 4 })).toBe(false);
    // the other order: the former leader's open lands first; the new leader's open of the key is refused
    expect(await alerts.applyClaimed(opened('k-resume-2', '2026-06-01T00:00:00.000Z'), { ...fence, token: 4 })).toBe(true);
    expect(await alerts.applyClaimed(opened('k-resume-2', '2026-06-01T00:00:05.000Z'), fence)).toBe(false);
    for (const key of ['k-resume', 'k-resume-2']) expect(await db.collection(ALERTS_COLLECTION).countDocuments({ key, state: 'open' })).toBe(1);
    // whatever writes it: the store itself holds no second open alert of a key
    await expect(db.collection(ALERTS_COLLECTION).insertOne({ _id: 'k-resume@late' as never, key: 'k-resume', state: 'open', open_key: 'k-resume' })).rejects.toThrow(/duplicate key/i);

    // resolved, the key may open again as a new alert
    const k1 = { key: 'k-race-0' };
    const open = (await alerts.open()).find((x) => x.key === k1.key)!;
    expect(await alerts.applyClaimed({ event: 'resolved', alert: { ...open, state: 'resolved', resolved_at: '2026-06-01T01:00:00.000Z' } }, fence)).toBe(true);
    expect(await alerts.applyClaimed(opened(k1.key, '2026-06-01T02:00:00.000Z'), fence)).toBe(true);
    expect(await db.collection(ALERTS_COLLECTION).countDocuments({ key: k1.key })).toBe(2);
    expect(await db.collection(ALERTS_COLLECTION).countDocuments({ key: k1.key, state: 'open' })).toBe(1);
    expect(await alerts.countOpen()).toBe(8); // 1 from the first test, 5 races, 2 resumed
  });

  it('a former evaluator cannot resolve an alert once the compliance fence has advanced past its token, though the new one never wrote that alert', async () => {
    const d = client.db(iso.dbName('stale-resolve'));
    const alerts = new AlertStore(d);
    await alerts.ensureIndexes();
    const fences = new FenceStore(d);
    await fences.advance({ role: 'compliance', token: 4 }, 'old');
    const ev = opened('k-stale', '2026-06-01T00:00:00.000Z');
    expect(await alerts.applyClaimed(ev, { role: 'compliance', token: 4 })).toBe(true);
    // a new evaluator takes the lease and advances the fence (its first evaluation has not run yet)
    await fences.advance({ role: 'compliance', token: 5 }, 'new');
    // the old one, paused after its own check, resolves: refused, the alert stays open for the new one to judge
    expect(await alerts.applyClaimed({ event: 'resolved', alert: { ...ev.alert, state: 'resolved', resolved_at: '2026-06-01T01:00:00.000Z' } }, { role: 'compliance', token: 4 })).toBe(false);
    expect((await alerts.open()).map((a) => a.id)).toEqual([ev.alert.id]);
    expect(await alerts.applyClaimed({ event: 'resolved', alert: { ...ev.alert, state: 'resolved', resolved_at: '2026-06-01T01:00:00.000Z' } }, { role: 'compliance', token: 5 })).toBe(true);
    await d.dropDatabase();
  });

  it('open alerts stored before the one-open-per-key index get their key: a later open of that key is refused', async () => {
    const d = client.db(iso.dbName('legacy'));
    const legacy = opened('k-legacy', '2026-06-01T00:00:00.000Z').alert;
    const { id, ...rest } = legacy;
    await d.collection(ALERTS_COLLECTION).insertOne({ _id: id as never, ...rest, recorded_at: new Date() });
    const alerts = new AlertStore(d);
    await alerts.ensureIndexes();
    expect(await d.collection(ALERTS_COLLECTION).findOne({ _id: id as never })).toMatchObject({ open_key: 'k-legacy', state: 'open' });
    expect(await alerts.applyClaimed(opened('k-legacy', '2026-06-01T00:10:00.000Z'), { role: 'compliance', token: 1 })).toBe(false);
    expect((await alerts.open()).map((a) => a.id)).toEqual([id]);
    await d.dropDatabase();
  });
});

describe('one open alert per violation key never blocks the key for good (real MongoDB)', () => {
  const resolved = (ev: AlertEvent, at: string): AlertEvent => ({ event: 'resolved', alert: { ...ev.alert, state: 'resolved', resolved_at: at } });

  it('an alert resolved by an earlier version (its open_key left behind) frees its key: at start-up and when the key alerts again', async () => {
    const d = client.db(iso.dbName('left-key'));
    const alerts = new AlertStore(d);
    await alerts.ensureIndexes();
    const first = opened('k-left', '2026-06-01T00:00:00.000Z');
    expect(await alerts.applyClaimed(first, { role: 'compliance', token: 1 })).toBe(true);
    // an earlier version resolves it: state only, open_key stays
    await d.collection(ALERTS_COLLECTION).updateOne({ _id: first.alert.id as never }, { $set: { state: 'resolved', resolved_at: '2026-06-01T01:00:00.000Z' } });
    // the key alerts again while this version runs: freed and stored
    expect(await alerts.applyClaimed(opened('k-left', '2026-06-01T02:00:00.000Z'), { role: 'compliance', token: 1 })).toBe(true);
    // and at start-up every such key is freed
    await d.collection(ALERTS_COLLECTION).updateOne({ _id: 'k-left@2026-06-01T02:00:00.000Z' as never }, { $set: { state: 'resolved' } });
    await alerts.ensureIndexes();
    expect(await d.collection(ALERTS_COLLECTION).countDocuments({ open_key: { $exists: true } })).toBe(0);
    expect(await alerts.applyClaimed(opened('k-left', '2026-06-01T03:00:00.000Z'), undefined)).toBe(true);
    expect((await alerts.open()).map((a) => a.id)).toEqual(['k-left@2026-06-01T03:00:00.000Z']);
    await d.dropDatabase();
  });

  it('one controller: a resolve that failed once does not keep the key open for good; the next resolve of the violation ends it', async () => {
    const d = client.db(iso.dbName('failed-resolve'));
    const alerts = new AlertStore(d);
    await alerts.ensureIndexes();
    const t1 = opened('k-retry', '2026-06-01T00:00:00.000Z');
    await alerts.apply(t1);
    // its resolve was lost (store error); the tracker raises the violation again later: refused (t1 still open)…
    const t3 = opened('k-retry', '2026-06-01T03:00:00.000Z');
    expect(await alerts.applyClaimed(t3, undefined)).toBe(false);
    // …and resolves it: the key's open alert (t1) ends
    await alerts.apply(resolved(t3, '2026-06-01T04:00:00.000Z'));
    expect(await alerts.countOpen()).toBe(0);
    expect(await d.collection(ALERTS_COLLECTION).findOne({ _id: t1.alert.id as never })).toMatchObject({ state: 'resolved', resolved_at: '2026-06-01T04:00:00.000Z' });
    // the key alerts again
    expect(await alerts.applyClaimed(opened('k-retry', '2026-06-01T05:00:00.000Z'), undefined)).toBe(true);
    await d.dropDatabase();
  });
});
