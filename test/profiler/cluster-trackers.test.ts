import { describe, expect, it } from 'vitest';
import { LateSampleTracker } from '../../billing/mediation/late';
import { mediationOptions } from '../../billing/mediation/options';
import { runMediationInNode } from '../../billing/mediation/runner';
import { SizeTracker } from '../../estimator/event-size';
import { SharedSizeTracker } from '../../estimator/size-store';
import type { StoredSample } from '../../pipeline/sample';
import { isolation } from '../support/isolation';
import { testDb } from '../rating/mongo';
import { sample, series } from '../rating/samples';

/**
 * The trackers with several controllers (real MongoDB): each controller sees only the samples of its
 * partitions, yet every controller must answer with the cluster-wide figure.
 */

const db = testDb(isolation(import.meta.url));
const d = (s: string) => new Date(s);

function stored(meter: string, bytes: number, at: number): StoredSample {
  return { ...sample({ timestamp: new Date(at), counter_volume: 1, counter_name: meter }), resource_metadata: {}, source: 'openstack', message_signature: '', bson_size: bytes, recorded_at: new Date(at) };
}

describe('size tracker shared through the store (estimator.size_tracker_state: store)', () => {
  it('two controllers seeing different samples size every meter the same: by the last three of the whole cluster', async () => {
    const a = new SharedSizeTracker(db, undefined, 3, 'size_tracker');
    const b = new SharedSizeTracker(db, undefined, 3, 'size_tracker');
    const single = new SizeTracker();
    const t0 = Date.UTC(2026, 11, 3, 6, 0, 0);
    // arrivals alternate between the controllers (as partitions interleave); sizes differ per arrival
    const all: StoredSample[] = [];
    for (let i = 0; i < 20; i++) all.push(stored(i % 3 === 0 ? 'memory.usage' : 'cpu', 1000 + 7 * i, t0 + i * 1000));
    for (const [i, s] of all.entries()) {
      (i % 2 === 0 ? a : b).onStored([s]);
      single.onStored([s]);
      if (i === 9) await Promise.all([a.flush(), b.flush()]); // a flush in the middle: later ones must push older out
    }
    await a.flush();
    await b.flush();
    await a.flush(); // re-read after b's write
    for (const meter of ['cpu', 'memory.usage']) {
      expect(a.view.meterSize(meter)).toBe(single.meterSize(meter));
      expect(b.view.meterSize(meter)).toBe(single.meterSize(meter));
    }
    // what each would say alone differs from the cluster-wide figure: the sharing matters
    const aloneA = new SizeTracker();
    aloneA.onStored(all.filter((_, i) => i % 2 === 0));
    expect(aloneA.meterSize('cpu')).not.toBe(single.meterSize('cpu'));
    expect(a.view.overallAverage()).toBe(single.overallAverage());
    await a.close();
    await b.close();
  });
});

describe('late-sample tracker with several controllers', () => {
  it('marks written by different controllers are drained by any controller: the store already holds the cluster-wide state', async () => {
    await db.collection('meter').insertMany(series('2026-01-01T00:00:00Z', 3600, 48, (i) => 100 * i).map((x) => ({ ...x })));
    await runMediationInNode(db, mediationOptions({ from: d('2026-01-01T00:00:00Z'), to: d('2026-01-03T00:00:00Z') }));
    const policy = { granularity: 'day' as const, timezone: 'UTC', carrySeconds: 60 };
    const a = new LateSampleTracker(db, policy, { marginMs: 0 });
    const b = new LateSampleTracker(db, policy, { marginMs: 0 });
    const late = (ts: string): StoredSample => ({ ...sample({ timestamp: ts, counter_volume: 1 }), resource_metadata: {}, source: 'openstack', message_signature: '', bson_size: 300, recorded_at: new Date() });
    a.onStored([late('2026-01-01T10:00:00Z')]);
    b.onStored([late('2026-01-02T10:00:00Z')]);
    await Promise.all([a.flush(), b.flush()]);
    const third = new LateSampleTracker(db, policy, { marginMs: 0 });
    expect((await third.drain()).periods.map((p) => p.toISOString().slice(0, 10))).toEqual(['2026-01-01', '2026-01-02']);
    expect((await a.drain()).periods.map((p) => p.toISOString().slice(0, 10))).toEqual(['2026-01-01', '2026-01-02']);
  });
});
