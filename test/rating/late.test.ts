import { describe, expect, it } from 'vitest';
import { LateSampleTracker, affectedClosedPeriods, coalescePeriods, periodsToRemediate } from '../../billing/mediation/late';
import { mediationOptions } from '../../billing/mediation/options';
import { addPeriods } from '../../billing/mediation/periods';
import { mediateSamples, type MediationSample } from '../../billing/mediation/reference';
import type { UsageDoc } from '../../billing/mediation/usage-doc';
import type { StoredSample } from '../../pipeline/sample';
import { runMediationInNode } from '../../billing/mediation/runner';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';
import { sample, series } from './samples';

const db = testDb(isolation(import.meta.url));

const d = (s: string) => new Date(s);
const iso = (ps: Date[]) => ps.map((p) => p.toISOString().slice(0, 10));
const policy = { granularity: 'day' as const, timezone: 'UTC', carrySeconds: 3600 };
const WATERMARK = d('2026-01-03T00:00:00Z'); // 1 and 2 January are closed

function stored(s: MediationSample): StoredSample {
  return { ...s, resource_metadata: {}, source: 'openstack', message_signature: '', bson_size: 300, recorded_at: new Date() };
}

describe('which closed periods a late sample changes', () => {
  it('marks the sample\'s own closed period', () => {
    expect(iso(affectedClosedPeriods(d('2026-01-01T12:00:00Z'), WATERMARK, policy))).toEqual(['2026-01-01']);
  });
  it('also marks a neighbouring period within the carry (its value or baseline reaches across midnight)', () => {
    expect(iso(affectedClosedPeriods(d('2026-01-01T23:30:00Z'), WATERMARK, policy))).toEqual(['2026-01-01', '2026-01-02']);
    expect(iso(affectedClosedPeriods(d('2026-01-02T00:20:00Z'), WATERMARK, policy))).toEqual(['2026-01-01', '2026-01-02']);
  });
  it('ignores open periods (they are mediated on schedule anyway)', () => {
    expect(iso(affectedClosedPeriods(d('2026-01-02T23:30:00Z'), WATERMARK, policy))).toEqual(['2026-01-02']);
    expect(affectedClosedPeriods(d('2026-01-03T05:00:00Z'), WATERMARK, policy)).toEqual([]);
  });
  it('collects a batch into sorted unique periods and coalesces them into ranges', () => {
    const ps = periodsToRemediate([d('2026-01-02T10:00:00Z'), d('2025-12-30T10:00:00Z'), d('2026-01-02T11:00:00Z'), d('2026-01-01T10:00:00Z')], WATERMARK, policy);
    expect(iso(ps)).toEqual(['2025-12-30', '2026-01-01', '2026-01-02']);
    expect(coalescePeriods(ps, 'day', 'UTC').map((r) => [r.from.toISOString().slice(0, 10), r.to.toISOString().slice(0, 10)])).toEqual([
      ['2025-12-30', '2025-12-31'],
      ['2026-01-01', '2026-01-03'],
    ]);
  });
});

describe('late samples through the ingestion hook (marks persisted in MongoDB)', () => {
  it('marks periods whose current mediation run started before the sample was stored; survives a restart; forgets only what it drained', async () => {
    const meter = db.collection('meter');
    await meter.insertMany(series('2026-01-01T00:00:00Z', 3600, 48, (i) => 100 * i).map((x) => ({ ...x })));
    await runMediationInNode(db, mediationOptions({ from: d('2026-01-01T00:00:00Z'), to: d('2026-01-03T00:00:00Z') }));
    const t = new LateSampleTracker(db, policy, { marginMs: 0 });
    // 3 January was never mediated: its first mediation reads everything, nothing to redo
    t.onStored([stored(sample({ timestamp: '2026-01-03T10:00:00Z', counter_volume: 1 }))]);
    expect((await t.drain()).periods).toEqual([]);
    t.onStored([stored(sample({ timestamp: '2026-01-02T10:00:00Z', counter_volume: 1 })), stored(sample({ timestamp: '2026-01-02T11:00:00Z', counter_volume: 2 }))]);
    expect(t.pendingSamples).toBe(2);
    await t.flush();
    // a restart: a new tracker reads the marks the old one wrote
    const restarted = new LateSampleTracker(db, policy, { marginMs: 0 });
    const drained = await restarted.drain();
    expect(iso(drained.periods)).toEqual(['2026-01-02']);
    // a sample of the same day stored after the drain read the marks is kept by the ack
    await new Promise((r) => setTimeout(r, 5));
    t.onStored([stored(sample({ timestamp: '2026-01-02T12:00:00Z', counter_volume: 3 }))]);
    await t.flush();
    await drained.ack();
    expect(iso((await restarted.drain()).periods)).toEqual(['2026-01-02']);
    // once the day is re-mediated (a new run started after the samples were stored) it is clean
    await runMediationInNode(db, mediationOptions({ from: d('2026-01-02T00:00:00Z'), to: d('2026-01-03T00:00:00Z') }));
    await (await restarted.drain()).ack();
    expect((await restarted.drain()).periods).toEqual([]);
    // 3 January's mark was kept while it had no run: a first mediation that started before that sample was stored is caught
    const before = new Date(Date.now() - 60_000);
    await runMediationInNode(db, mediationOptions({ from: d('2026-01-03T00:00:00Z'), to: d('2026-01-04T00:00:00Z') }));
    await db.collection('runs').updateOne({ 'periods.p1767398400000': { $exists: true } }, { $set: { 'periods.p1767398400000.started_at': before } }); // as if it had started reading a minute ago
    expect(iso((await restarted.drain()).periods)).toEqual(['2026-01-03']);
  });

  it('re-mediating the drained periods brings the usage store to what a full run on all data gives', () => {
    const onTime = series('2026-01-01T00:00:00Z', 3600, 72, (i) => 100 * i, { counter_name: 'cpu' });
    const late = [sample({ timestamp: '2026-01-01T23:59:00Z', counter_volume: 5 })]; // a reset just before midnight
    // the usage store, keyed by the deterministic _id ($merge on _id with replace does the same)
    const store = new Map<string, UsageDoc>();
    const upsert = (docs: UsageDoc[]) => docs.forEach((u) => store.set(JSON.stringify(u._id), u));
    const now = d('2026-06-01T00:00:00Z');
    upsert(mediateSamples(onTime, mediationOptions({ from: d('2026-01-01T00:00:00Z'), to: WATERMARK }), now));
    const before = [...store.values()].map((u) => u.delta);

    const all = [...onTime, ...late];
    for (const r of coalescePeriods(periodsToRemediate(late.map((x) => x.timestamp), WATERMARK, policy), 'day', 'UTC')) upsert(mediateSamples(all, mediationOptions(r), now));
    const expected = mediateSamples(all, mediationOptions({ from: d('2026-01-01T00:00:00Z'), to: WATERMARK }), now);
    expect([...store.values()].sort((a, b) => a.period_start.getTime() - b.period_start.getTime())).toEqual(expected);
    // the late reset changed both days. Before: day 1 = 23 × 100, day 2 = 24 × 100.
    expect(before).toEqual([2300, 2400]);
    // After: day 1 gains the reset (+5, counted from zero); day 2's first increase is measured from
    // 5 (2400 − 5), then 23 × 100.
    expect(expected.map((u) => [u.delta, u.resets])).toEqual([[2305, 1], [2395 + 2300, 0]]);
  });
});

describe('periods helper', () => {
  it('adds whole months in a zone', () => {
    expect(addPeriods(d('2026-01-31T15:00:00Z'), 'month', 1, 'Asia/Tokyo').toISOString()).toBe('2026-02-28T15:00:00.000Z');
  });
});
