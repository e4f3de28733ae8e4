import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type Db } from 'mongodb';
import pino from 'pino';
import { ManualClock } from '../support/clock';
import { isolation } from '../support/isolation';
import { mongoUri } from '../support/services';
import { clusterConfig, SINGLETON_ROLES } from '../../cluster/config';
import { Elector } from '../../cluster/elector';
import { FencedOutError, FenceStore, fencedWrite } from '../../cluster/fence';
import { processBillingCycle } from '../../billing/jobs/cycle';
import { PredictiveSignals } from '../../scaler/onboarding';

/**
 * Leases and fences against the real store, two electors in this process with clocks the test moves
 * (the three-process test, controllers.test.ts, does the same with real processes and signals).
 */
const iso = isolation(import.meta.url);
const log = pino({ level: 'silent' });
const config = clusterConfig.parse({ enabled: true, leaseTtlMs: 1000, renewIntervalMs: 300, guardMs: 100 });
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

describe('leader election with fencing tokens (real MongoDB)', () => {
  it('one leader per role; a paused leader is taken over after the ttl and its late action is refused by the fence', async () => {
    const ca = new ManualClock(1_000_000);
    const cb = new ManualClock(1_000_000);
    const a = new Elector({ db, config, id: 'a', instance: 'a#1', roles: SINGLETON_ROLES, log, now: ca.now });
    const b = new Elector({ db, config, id: 'b', instance: 'b#1', roles: SINGLETON_ROLES, log, now: cb.now });
    await a.tick();
    await b.tick();
    for (const role of SINGLETON_ROLES) {
      expect([role, a.leading(role), b.leading(role)]).toEqual([role, true, false]);
      expect(a.leadership(role).token()).toBe(1);
    }
    const aScaler = a.leadership('scaler');
    expect(await aScaler.fence()).toEqual({ role: 'scaler', token: 1 });

    // a is paused (no renewals, its clock does not move: the worst case, a check passed just before the
    // pause); b sees the lease unchanged for the ttl and takes over with token 2
    cb.t += 400;
    await b.tick();
    expect(b.leading('scaler')).toBe(false);
    cb.t += 1000;
    await b.tick();
    expect(b.leading('scaler')).toBe(true);
    expect(b.leadership('scaler').token()).toBe(2);
    expect(b.leadership('scaler').leader()).toBe('b');

    // a wakes up and acts at once, still believing its lease valid: the fence refuses it
    expect(aScaler.leading()).toBe(true);
    await expect(aScaler.fence()).rejects.toThrow(FencedOutError);
    await expect(aScaler.fence()).rejects.toThrow(/token 1 is stale: b has acted with token 2/);
    expect(a.fences.rejected).toBe(2);
    // and when its clock has moved on, it knows by itself
    ca.t += 1000;
    expect(aScaler.leading()).toBe(false);
    await expect(aScaler.fence()).rejects.toThrow(/does not hold the lease any more/);
    // its next look at the store shows b: a stays a follower
    await a.tick();
    expect(a.leading('scaler')).toBe(false);
    expect(aScaler.leader()).toBe('b');
    expect(await new FenceStore(db).current()).toContainEqual(expect.objectContaining({ _id: 'scaler', token: 2, controller: 'b' }));

    // b shuts down cleanly: its leases are released, a takes them at its next look with higher tokens
    await b.close();
    await a.tick();
    expect(a.leading('scaler')).toBe(true);
    expect(a.leadership('scaler').token()).toBe(3);
    await a.close();
  });

  it('a leader that cannot reach the store stops acting before its lease can lapse for the others', async () => {
    const d = client.db(iso.dbName('outage'));
    const lost = await new MongoClient(mongoUri()).connect();
    const clock = new ManualClock(1_000_000);
    const a = new Elector({ db: lost.db(d.databaseName), config, id: 'a', instance: 'a#2', roles: ['scaler'], log, now: clock.now });
    await a.tick();
    expect(a.leading('scaler')).toBe(true);
    await lost.close(); // the store is gone for a
    clock.t += 300;
    await a.tick(); // renewal fails; the hold stands until its own deadline
    expect(a.stats.errors).toBeGreaterThan(0);
    expect(a.leading('scaler')).toBe(true);
    clock.t += 600; // 900 ms after the last successful renewal: ttl 1000 - guard 100
    expect(a.leading('scaler')).toBe(false);
    await expect(a.leadership('scaler').fence()).rejects.toThrow(FencedOutError);
    await d.dropDatabase();
  });

  it('fence() re-checks the hold after its write: a leader paused during the write, or left with less than guardMs, refuses', async () => {
    const d = client.db(iso.dbName('paused-fence'));
    const clock = new ManualClock(1_000_000);
    const a = new Elector({ db: d, config, id: 'a', instance: 'a#3', roles: ['scaler'], log, now: clock.now });
    await a.tick(); // hold valid for ttl 1000 − guard 100 = 900 ms by a's clock
    const lead = a.leadership('scaler');
    expect(await lead.fence()).toEqual({ role: 'scaler', token: 1 });

    // the check before the write passes; the process is then paused past its lease while the write is in
    // flight (the monotonic clock keeps counting): on resuming it must not act
    const inFlight = lead.fence();
    clock.t += 1000;
    await expect(inFlight).rejects.toThrow(/lost the lease while the fence was being written/);
    await expect(lead.fence()).rejects.toThrow(/does not hold the lease any more/);

    // a pause that leaves the hold standing but with less than guardMs (100 ms) of it is refused too
    await a.tick(); // renewed: 900 ms from now
    clock.t += 100;
    const shortened = lead.fence();
    clock.t += 720; // 80 ms left when the write returns
    await expect(shortened).rejects.toThrow(/after the fence write .* holds the lease for only 80 ms more, less than the 100 ms/);
    // and a hold that already has less than guardMs left does not even write
    await a.tick();
    clock.t += 850;
    await expect(lead.fence()).rejects.toThrow(/holds the lease for only 50 ms more, less than the 100 ms \(cluster.guardMs\) an action needs/);
    clock.t -= 850; // (the test's clock only) with the time left, it acts
    expect(await lead.fence()).toEqual({ role: 'scaler', token: 1 });
    await a.close();
    await d.dropDatabase();
  });

  it('the fence write is bounded: a store that does not answer refuses the action within the time given', async () => {
    // a listener that accepts connections and never answers: a store cut off mid-connection (no MongoDB behaviour imitated)
    const silent = net.createServer((socket) => void socket.on('error', () => undefined));
    const sockets = new Set<net.Socket>();
    silent.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const cut = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, { serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 10_000 });
    const started = Date.now();
    await expect(new FenceStore(cut.db('x')).advance({ role: 'scaler', token: 1 }, 'a', { timeoutMs: 300 })).rejects.toThrow(/the fence write did not answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const s of sockets) s.destroy();
    await cut.close().catch(() => undefined);
    await new Promise((r) => silent.close(r));
  });

  it('a fenced write with an older token is refused once the role\'s fence has advanced past it, on a document the new leader has not written yet', async () => {
    const d = client.db(iso.dbName('fenced-docs'));
    const fences = new FenceStore(d);
    const progress = d.collection<{ _id: string; last_end?: Date }>('counters');
    const old = { role: 'billing-cycle', token: 4 };
    await fences.advance(old, 'old-leader');
    const w = fencedWrite({ _id: 'billing-cycle' }, old);
    const t1 = new Date('2026-12-01T00:00:00Z');
    await progress.updateOne(w.filter as never, { $set: { last_end: t1, ...w.set } }, { upsert: true });
    // a new leader takes the lease: its advance (at takeover, before it acts) is all it has written
    await fences.advance({ role: 'billing-cycle', token: 5 }, 'new-leader');
    // the old leader, paused after its check, writes its next progress with token 4: matches nothing
    const late = await progress.updateOne(w.filter as never, { $set: { last_end: new Date('2026-12-02T00:00:00Z'), ...w.set } }).catch((err: Error) => err);
    expect(late).toMatchObject({ matchedCount: 0 });
    await expect(progress.updateOne(w.filter as never, { $set: { last_end: new Date('2026-12-02T00:00:00Z'), ...w.set } }, { upsert: true })).rejects.toThrow(/duplicate key/i);
    expect(await progress.findOne({ _id: 'billing-cycle' })).toEqual({ _id: 'billing-cycle', last_end: t1, fence: { 'billing-cycle': 5 } });
    // a role's document that does not exist yet is created holding the token: a stale upsert cannot create it
    const d2 = client.db(iso.dbName('fenced-docs-new'));
    await new FenceStore(d2).advance({ role: 'billing-cycle', token: 7 }, 'new-leader');
    const w6 = fencedWrite({ _id: 'billing-cycle' }, { role: 'billing-cycle', token: 6 });
    await expect(d2.collection('counters').updateOne(w6.filter as never, { $set: { last_end: t1, ...w6.set } }, { upsert: true })).rejects.toThrow(/duplicate key/i);
    // an advance never lowers what the documents carry
    await expect(new FenceStore(d2).advance({ role: 'billing-cycle', token: 6 }, 'old-leader')).rejects.toThrow(FencedOutError);
    expect(await d2.collection('counters').findOne({ _id: 'billing-cycle' as never })).toEqual({ _id: 'billing-cycle', fence: { 'billing-cycle': 7 } });
    await d.dropDatabase();
    await d2.dropDatabase();
  });

  it('an onboarding estimate posted to any controller reaches the loop of the scaler leader, once', async () => {
    const d = client.db(iso.dbName('onboarding'));
    const follower = new PredictiveSignals(d);
    const leader = new PredictiveSignals(d);
    const e = { t: new Date('2026-12-03T06:00:00Z'), arrives_at: new Date('2026-12-03T08:00:00Z'), bytes_per_day: 5e9, events_per_s: 30, label: 'stack-1' };
    await follower.register(e);
    expect(await leader.drain(new Date('2026-12-03T06:01:00Z'))).toEqual([e]);
    expect(await leader.drain()).toEqual([]);
    expect(await d.collection('scaler_onboarding').countDocuments({ status: 'handed' })).toBe(1);
    await d.dropDatabase();
  });

  it('a billing cycle scheduled by an overtaken leader does nothing; its progress write carries the token', async () => {
    const d = client.db(iso.dbName('cycle'));
    await new FenceStore(d).advance({ role: 'billing-cycle', token: 5 }, 'new-leader');
    const deps = { db: d, collections: { source: 'meter', usage: 'usage', rated: 'rated' }, invoicePrefix: 'INV', mediationMode: async () => 'in-node' as const };
    const data = { granularity: 'hour' as const, timezone: 'UTC', carrySeconds: 0, billingPeriod: 'day' as const, graceSeconds: 0, planFile: 'none.yaml', fence: { role: 'billing-cycle', token: 4, controller: 'old-leader' } };
    const r = await processBillingCycle(deps as never, data, { progress: async () => undefined });
    expect(r).toMatchObject({ periods: [], superseded: expect.stringMatching(/token 4 is stale: new-leader has acted with token 5/) });
    // no progress written (the document holds only the new leader's token, which its advance put there)
    expect(await d.collection('counters').find({}).toArray()).toEqual([{ _id: 'billing-cycle', fence: { 'billing-cycle': 5 } }]);
    await d.dropDatabase();
  });
});
