import { describe, expect, it } from 'vitest';
import { LeaseCore, handoverBoundMs, type LeaseRecord } from '../../cluster/lease';
import { controllersView } from '../../cluster/view';
import { memberViews } from '../../cluster/membership';
import { fencedWrite } from '../../cluster/fence';
import { clusterConfig } from '../../cluster/config';
import { defaultPolicy } from '../../scaler/config';
import { ScalerPolicy } from '../../scaler/policy';

const timing = { ttlMs: 1000, guardMs: 100 };
const rec = (over: Partial<LeaseRecord>): LeaseRecord => ({ role: 'scaler', holder: 'b', instance: 'b#1', token: 4, version: 10, ttl_ms: 1000, ...over });

describe('LeaseCore (pure lease state machine)', () => {
  it('creates a missing lease, then acts until sentAt + ttl - guard by its own clock, and renews its own', () => {
    const a = new LeaseCore('scaler', 'a#1', timing);
    expect(a.plan(null, 0)).toEqual({ kind: 'create' });
    a.granted(1, 1, 50);
    expect(a.leading(50)).toBe(true);
    expect(a.leading(949)).toBe(true);
    expect(a.leading(950)).toBe(false); // 50 + 1000 - 100: stops before anyone may take over
    expect(a.plan(rec({ holder: 'a', instance: 'a#1', token: 1, version: 1 }), 960)).toEqual({ kind: 'renew', token: 1, version: 1 });
    a.granted(1, 2, 960);
    expect(a.leading(1500)).toBe(true);
  });

  it('takes over a foreign lease only after seeing it unchanged for ttl on its own clock; a renewal restarts the wait', () => {
    const a = new LeaseCore('scaler', 'a#1', timing);
    expect(a.plan(rec({}), 5000)).toEqual({ kind: 'wait', holder: 'b', until: 6000 });
    expect(a.plan(rec({}), 5999).kind).toBe('wait');
    // b renewed (version 11): the wait starts again from when a saw it
    expect(a.plan(rec({ version: 11 }), 5999)).toEqual({ kind: 'wait', holder: 'b', until: 6999 });
    expect(a.plan(rec({ version: 11 }), 6999)).toEqual({ kind: 'takeover', expect: { version: 11, instance: 'b#1' }, reason: 'expired' });
    expect(a.leading(6999)).toBe(false);
  });

  it('honours the longer of its own ttl and the one the holder promised', () => {
    const a = new LeaseCore('scaler', 'a#1', timing);
    expect(a.plan(rec({ ttl_ms: 5000 }), 0)).toEqual({ kind: 'wait', holder: 'b', until: 5000 });
  });

  it('takes a released lease at once; a lease taken over from it is lost at the next look', () => {
    const a = new LeaseCore('scaler', 'a#1', timing);
    expect(a.plan(rec({ holder: null, instance: null }), 0)).toEqual({ kind: 'takeover', expect: { version: 10, instance: null }, reason: 'released' });
    a.granted(11, 11, 0);
    expect(a.leading(10)).toBe(true);
    // c holds it now with a higher token: a forgets its hold at once
    expect(a.plan(rec({ holder: 'c', instance: 'c#1', token: 12, version: 12 }), 20).kind).toBe('wait');
    expect(a.leading(20)).toBe(false);
    expect(a.hold).toBeUndefined();
  });

  it('a restarted controller (same id, new instance) does not inherit its old lease: it waits like anyone', () => {
    const a2 = new LeaseCore('scaler', 'a#2', timing);
    expect(a2.plan(rec({ holder: 'a', instance: 'a#1' }), 0).kind).toBe('wait');
  });

  it('hand-over bound is ttl + 2 × renew interval; the config refuses renewals too rare for the ttl', () => {
    expect(handoverBoundMs({ leaseTtlMs: 15000, renewIntervalMs: 3000 })).toBe(21000);
    const bad = clusterConfig.safeParse({ leaseTtlMs: 1000, renewIntervalMs: 500 });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/at most a third of leaseTtlMs/);
    // a leader renewing on time must always have guardMs of its hold left for an action (fence() needs it)
    const tight = clusterConfig.safeParse({ leaseTtlMs: 1000, renewIntervalMs: 300, guardMs: 400 });
    expect(tight.success).toBe(false);
    expect(tight.error?.issues[0]?.message).toMatch(/must exceed guardMs: an action needs guardMs of the lease left/);
    expect(clusterConfig.safeParse({ leaseTtlMs: 1000, renewIntervalMs: 300, guardMs: 300 }).success).toBe(true);
  });
});

describe('fencing and views (pure)', () => {
  it('fencedWrite matches documents never fenced or fenced with a lower or equal token, and records the token', () => {
    const w = fencedWrite({ _id: 'billing-cycle' }, { role: 'billing-cycle', token: 7 });
    expect(w.filter).toEqual({ _id: 'billing-cycle', $or: [{ 'fence.billing-cycle': { $exists: false } }, { 'fence.billing-cycle': { $lte: 7 } }] });
    expect(w.set).toEqual({ 'fence.billing-cycle': 7 });
  });

  it('liveness is judged on the store clock; the view says who leads what, until when, with which token', () => {
    const now = new Date('2026-12-03T06:00:10Z');
    const members = memberViews(
      [
        { _id: 'c2', instance: 'i2', address: 'http://h2:8777', host: 'h2', pid: 2, started_at: new Date('2026-12-03T05:00:00Z'), heartbeat_at: new Date('2026-12-03T06:00:09Z'), partitions: [{ topic: 'metering.ingest', partition: 2 }, { topic: 'metering', partition: 0 }, { topic: 'metering.ingest', partition: 0 }] },
        { _id: 'c1', instance: 'i1', address: 'http://h1:8777', host: 'h1', pid: 1, started_at: new Date('2026-12-03T05:00:00Z'), heartbeat_at: new Date('2026-12-03T05:59:00Z') },
      ],
      now,
      20_000,
    );
    expect(members.map((m) => [m.id, m.alive, m.heartbeat_age_ms])).toEqual([['c1', false, 70_000], ['c2', true, 1000]]);
    // the partitions each consumer owned at its heartbeat, in topic then partition order; null: no consumer (older document)
    expect(members.map((m) => m.partitions)).toEqual([null, [{ topic: 'metering', partition: 0 }, { topic: 'metering.ingest', partition: 0 }, { topic: 'metering.ingest', partition: 2 }]]);
    const v = controllersView('c2', now, members, [{ _id: 'scaler', holder: 'c2', instance: 'i2', token: 3, version: 9, ttl_ms: 15000, renewed_at: new Date('2026-12-03T06:00:08Z') }], [{ _id: 'scaler', token: 3 }], 21000);
    expect(v.singletons).toEqual([{ role: 'scaler', leader: 'c2', leader_address: 'http://h2:8777', token: 3, fence_token: 3, renewed_at: '2026-12-03T06:00:08.000Z', expires_at: '2026-12-03T06:00:23.000Z', ttl_ms: 15000 }]);
    expect(v.controllers.find((c) => c.id === 'c2')?.leads).toEqual(['scaler']);
  });
});

describe('scaler hand-over keeps the cooldowns (ScalerPolicy.recall)', () => {
  it('a new leader that recalls the old leader\'s add-shard does not add another within the cooldown', () => {
    const MIN = 60_000;
    const T0 = Date.parse('2026-03-01T00:00:00Z');
    const hot = (m: number) => [0, 1].map((i) => ({ t: new Date(T0 + m * MIN), shard: `sh${i}`, cpu: i === 1 ? 95 : 40, memory: 50, disk: 40 }));
    const run = (recalled: Array<{ t: Date; action: 'add-shard' }>) => {
      const p = new ScalerPolicy(defaultPolicy());
      p.recall(recalled);
      const out = [];
      for (let m = 0; m <= 30; m += 5) {
        for (const o of hot(m)) p.observe(o);
        out.push(p.evaluate(new Date(T0 + m * MIN)));
      }
      return out.filter((d) => d.action !== 'none').map((d) => [(d.t.getTime() - T0) / MIN, d.action]);
    };
    // without the history: the new leader adds a shard once the 10-minute window holds
    expect(run([])).toEqual([[10, 'add-shard']]);
    // the old leader added one 5 minutes before the hand-over: the 30-minute cooldown holds until minute 25
    expect(run([{ t: new Date(T0 - 5 * MIN), action: 'add-shard' }])).toEqual([[25, 'add-shard']]);
  });
});
