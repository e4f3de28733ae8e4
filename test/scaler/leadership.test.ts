import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type Db } from 'mongodb';
import pino from 'pino';
import { ManualClock } from '../support/clock';
import { isolation } from '../support/isolation';
import { mongoUri } from '../support/services';
import { clusterConfig } from '../../cluster/config';
import { Elector } from '../../cluster/elector';
import { scalerConfig } from '../../scaler/config';
import { DecisionRepository } from '../../scaler/decisions';
import { ScalerService } from '../../scaler/service';

/**
 * The scaler under the cluster's lease (real store, the lease clocks moved by the test): a controller
 * that gains the scaler lease recalls the actions a former leader carried out before its first round
 * decides, and a round whose fence is refused stores and carries out nothing, without failing the loop.
 */
const iso = isolation(import.meta.url);
const log = pino({ level: 'silent' });
const lease = clusterConfig.parse({ enabled: true, leaseTtlMs: 1000, renewIntervalMs: 300, guardMs: 100 });
// one hot observation is enough to scale out: the decision shows at once whether the cooldown was known
const config = scalerConfig.parse({ policy: { scaleOut: [{ metric: 'cpu', above: 80, for: '0s' }] }, loop: { enabled: true, interval: '1h' } });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  client = await new MongoClient(mongoUri()).connect();
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

describe('scaler hand-over (real MongoDB, lease clocks moved by the test)', () => {
  it('the new leader recalls the former leader\'s action before its first round decides, even when that round starts the instant the lease is granted', async () => {
    const ca = new ManualClock(5_000_000);
    const cb = new ManualClock(5_000_000);
    const a = new Elector({ db, config: lease, id: 'a', instance: 'a#1', roles: ['scaler'], log, now: ca.now });
    const b = new Elector({ db, config: lease, id: 'b', instance: 'b#1', roles: ['scaler'], log, now: cb.now });
    await a.tick();
    await b.tick();
    expect([a.leading('scaler'), b.leading('scaler')]).toEqual([true, false]);

    // b runs its loop as a follower (its rounds do nothing); the VM of the store is hot
    const svcB = new ScalerService({ config, mongo: client, db, log, uri: mongoUri(), leadership: b.leadership('scaler'), controller: 'b' });
    await svcB.init();
    svcB.useVmLoad(() => ({ '127.0.0.1': { cpu: 95 } }));
    expect(svcB.start()).toBe(true);
    expect(await svcB.tick()).toBeUndefined(); // a follower's round (after whatever start queued): nothing

    // meanwhile a, the leader, added a shard (stored with its outcome, as the actuator leaves it)
    const decisions = new DecisionRepository(db);
    const t = new Date(Date.now() - 60_000);
    await decisions.record({ t, action: 'add-shard', reason: 'cpu hot', inputs: {} }, t, { source: 'loop', outcome: { status: 'done', detail: 'shard added', at: t }, fence_token: 1, controller: 'a' });

    // a stops renewing; b takes over after the ttl and its loop runs a round the moment the lease is its own
    cb.t += 400;
    await b.tick();
    cb.t += 1000;
    const electing = b.tick();
    while (!b.leading('scaler')) await new Promise((r) => setImmediate(r));
    const first = await svcB.tick();
    await electing;
    expect(b.leadership('scaler').token()).toBe(2);
    expect(first?.action).toBe('none');
    expect(first?.reason).toMatch(/within scale-out cooldown/);
    const byB = await db.collection('scaler_decisions').find({ controller: 'b' }).toArray();
    expect(byB.map((d) => [d.action, d.fence_token])).toEqual([['none', 2]]);

    // b's hold runs short (no renewal): the round's fence is refused; nothing stored, nothing thrown
    cb.t += 850; // 50 ms left of the hold, less than guardMs (100)
    expect(b.leading('scaler')).toBe(true);
    const refused = await svcB.tick();
    expect(refused?.action).toBe('none');
    expect(await db.collection('scaler_decisions').countDocuments({ controller: 'b' })).toBe(1);
    await svcB.stop();
    await a.close();
    await b.close();
  });

  it('a round refused by the fence leaves the policy as it was: once the lease is renewed the same action is decided, not held back by a cooldown the refused round started', async () => {
    const db = client.db(iso.dbName('fence')); // no stored actions from the hand-over above
    const clock = new ManualClock(9_000_000);
    const a = new Elector({ db, config: lease, id: 'solo', instance: 'solo#1', roles: ['scaler'], log, now: clock.now });
    await a.tick();
    expect(a.leading('scaler')).toBe(true);
    const svc = new ScalerService({ config, mongo: client, db, log, uri: mongoUri(), leadership: a.leadership('scaler'), controller: 'solo' });
    await svc.init();
    svc.useVmLoad(() => ({ '127.0.0.1': { cpu: 95 } }));
    clock.t += 850; // the hold runs short: the round's fence is refused
    const refused = await svc.tick();
    expect(refused?.action).toBe('add-shard');
    expect(await db.collection('scaler_decisions').countDocuments({ controller: 'solo' })).toBe(0);
    // counted as fenced, not as a decision
    expect(svc.metricsSnapshot()).toMatchObject({ metering_scaler_rounds_total: 0, metering_scaler_decisions_add_shard_total: 0, metering_scaler_rounds_fenced_total: 1 });
    await a.tick(); // renewed
    const next = await svc.tick();
    expect(next?.action).toBe('add-shard');
    const stored = await db.collection('scaler_decisions').find({ controller: 'solo' }).toArray();
    expect(stored.map((d) => d.action)).toEqual(['add-shard']);
    expect(svc.metricsSnapshot()).toMatchObject({ metering_scaler_rounds_total: 1, metering_scaler_decisions_add_shard_total: 1, metering_scaler_rounds_fenced_total: 1 });
    await svc.stop();
    await a.close();
    await db.dropDatabase();
  });
});
