import { describe, expect, it } from 'vitest';
import { mediationOptions } from '../../billing/mediation/options';
import { addPeriods, periodStart, periodsBetween } from '../../billing/mediation/periods';
import { mediateSamples } from '../../billing/mediation/reference';
import type { UsageDoc } from '../../billing/mediation/usage-doc';
import { sample, series } from './samples';

const d = (s: string) => new Date(s);
const opts = (from: string, to: string, extra: Parameters<typeof mediationOptions>[0] extends infer T ? Partial<T> : never = {}) =>
  mediationOptions({ from: d(from), to: d(to), ...extra });
const NOW = d('2026-06-01T00:00:00Z');
const strip = (docs: UsageDoc[]) => docs.map(({ mediated_at: _m, ...rest }) => rest);

describe('billing periods', () => {
  it('cuts days at local midnight in the time zone, including across a DST change', () => {
    expect(periodStart(d('2026-03-29T21:59:00Z'), 'day', 'Europe/Berlin').toISOString()).toBe('2026-03-28T23:00:00.000Z');
    // 29 March 2026 is the 23-hour day in Berlin (CET → CEST)
    expect(addPeriods(d('2026-03-28T23:00:00Z'), 'day', 1, 'Europe/Berlin').toISOString()).toBe('2026-03-29T22:00:00.000Z');
  });
  it('cuts months at the first local midnight and hours on a half-hour offset zone', () => {
    expect(periodStart(d('2026-02-10T12:00:00Z'), 'month', 'Asia/Tokyo').toISOString()).toBe('2026-01-31T15:00:00.000Z');
    expect(periodStart(d('2026-02-10T12:10:00Z'), 'hour', 'Asia/Kolkata').toISOString()).toBe('2026-02-10T11:30:00.000Z');
    expect(periodsBetween(d('2026-01-01T00:00:00Z'), d('2026-04-01T00:00:00Z'), 'month').map((p) => p.toISOString().slice(0, 10))).toEqual(['2026-01-01', '2026-02-01', '2026-03-01']);
  });
  it('refuses ranges that do not start on a period boundary', () => {
    expect(() => opts('2026-01-01T01:00:00Z', '2026-01-02T00:00:00Z')).toThrow(/from: 2026-01-01T01:00:00.000Z is not the start of a day in UTC/);
  });
});

describe('statistics per period, resource, project, user and meter', () => {
  it('computes count, sum, avg, min, max, first/last and duration per period', () => {
    const samples = [
      sample({ counter_type: 'delta', counter_name: 'net.rx', counter_unit: 'B', timestamp: '2026-01-01T01:00:00Z', counter_volume: 10 }),
      sample({ counter_type: 'delta', counter_name: 'net.rx', counter_unit: 'B', timestamp: '2026-01-01T05:00:00Z', counter_volume: 30 }),
      sample({ counter_type: 'delta', counter_name: 'net.rx', counter_unit: 'B', timestamp: '2026-01-01T03:00:00Z', counter_volume: 20 }),
      sample({ counter_type: 'delta', counter_name: 'net.rx', counter_unit: 'B', timestamp: '2026-01-02T00:00:00Z', counter_volume: 7 }),
      sample({ counter_type: 'delta', counter_name: 'net.rx', counter_unit: 'B', timestamp: '2026-01-01T02:00:00Z', counter_volume: 5, project_id: 'p2' }),
    ];
    const out = mediateSamples(samples, opts('2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z'), NOW);
    expect(out.map((u) => [u.period_start.toISOString().slice(0, 10), u.project_id, u.count, u.sum, u.avg, u.min, u.max, u.duration])).toEqual([
      ['2026-01-01', 'p1', 3, 60, 20, 10, 30, 4 * 3600],
      ['2026-01-01', 'p2', 1, 5, 5, 5, 5, 0],
      ['2026-01-02', 'p1', 1, 7, 7, 7, 7, 0],
    ]);
    expect(out[0]).toMatchObject({ first_timestamp: d('2026-01-01T01:00:00Z'), last_timestamp: d('2026-01-01T05:00:00Z'), delta: null, time_weighted: null });
  });
});

describe('time-weighted gauges', () => {
  it('turns an instance gauge into instance-hours, splitting a value across midnight', () => {
    // instance alive (volume 1) sampled every 10 minutes from 22:00 to 01:50 the next day
    const s = series('2026-01-01T22:00:00Z', 600, 24, () => 1, { counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance' });
    const out = mediateSamples(s, opts('2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z', { carrySeconds: 900 }), NOW);
    expect(out.map((u) => [u.period_start.toISOString().slice(0, 10), u.time_weighted])).toEqual([
      ['2026-01-01', 2],
      // 00:00–01:50 plus the last value held for the carry (15 min) = 2 h 5 min
      ['2026-01-02', 125 / 60],
    ]);
  });
  it('weights each value by how long it held (GB over a day), and stops carrying after a gap', () => {
    const s = [
      sample({ counter_name: 'disk.usage', counter_type: 'gauge', counter_unit: 'GB', timestamp: '2026-01-01T00:00:00Z', counter_volume: 10 }),
      sample({ counter_name: 'disk.usage', counter_type: 'gauge', counter_unit: 'GB', timestamp: '2026-01-01T00:30:00Z', counter_volume: 40 }),
      sample({ counter_name: 'disk.usage', counter_type: 'gauge', counter_unit: 'GB', timestamp: '2026-01-01T01:00:00Z', counter_volume: 40 }),
      // the series stops: the 01:00 value carries one hour at most (carry 3600 s), not to midnight
      sample({ counter_name: 'disk.usage', counter_type: 'gauge', counter_unit: 'GB', timestamp: '2026-01-01T12:00:00Z', counter_volume: 20 }),
    ];
    const [u] = mediateSamples(s, opts('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'), NOW);
    // 10 × 0.5 h + 40 × 0.5 h + 40 × 1 h + 20 × 1 h
    expect(u!.time_weighted).toBe(85);
    expect(u!.avg).toBe(27.5);
  });
});

describe('cumulative counters', () => {
  it('sums increases and counts a drop as a reset (the counter restarted from zero)', () => {
    const vols = [100, 150, 30, 80]; // +50, reset → +30, +50
    const s = vols.map((v, i) => sample({ timestamp: new Date(Date.UTC(2026, 0, 1, 1 + i)), counter_volume: v }));
    const [u] = mediateSamples(s, opts('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'), NOW);
    expect(u).toMatchObject({ delta: 130, resets: 1, count: 4, min: 30, max: 150 });
  });
  it('attributes the increase across a period boundary to the later period, so periods add up', () => {
    const s = [
      sample({ timestamp: '2026-01-01T23:30:00Z', counter_volume: 1000 }),
      sample({ timestamp: '2026-01-01T23:50:00Z', counter_volume: 1200 }),
      sample({ timestamp: '2026-01-02T00:10:00Z', counter_volume: 1500 }),
      sample({ timestamp: '2026-01-02T00:30:00Z', counter_volume: 1600 }),
    ];
    const days = mediateSamples(s, opts('2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z'), NOW);
    expect(days.map((u) => u.delta)).toEqual([200, 400]);
    // the first sample ever has no baseline: its increase is unknown and counted as 0
    expect(days[0]!.delta! + days[1]!.delta!).toBe(1600 - 1000);
  });
  it('does not measure an increase from a baseline older than the carry', () => {
    const s = [sample({ timestamp: '2026-01-01T00:00:00Z', counter_volume: 10 }), sample({ timestamp: '2026-01-01T05:00:00Z', counter_volume: 90 })];
    const [u] = mediateSamples(s, opts('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', { carrySeconds: 3600 }), NOW);
    expect(u!.delta).toBe(0);
  });
});

describe('re-mediation', () => {
  const data = [
    ...series('2026-01-01T00:05:00Z', 1800, 150, (i) => 1000 * i - (i > 80 ? 60_000 : 0), { resource_id: 'vm1' }),
    ...series('2026-01-01T00:00:00Z', 600, 400, (i) => (i % 7) + 1, { resource_id: 'vol1', counter_name: 'volume.size', counter_type: 'gauge', counter_unit: 'GB', project_id: 'p2' }),
  ];
  it('gives the same usage whether a range is mediated at once or period by period', () => {
    const whole = mediateSamples(data, opts('2026-01-01T00:00:00Z', '2026-01-04T00:00:00Z'), NOW);
    const byDay = periodsBetween(d('2026-01-01T00:00:00Z'), d('2026-01-04T00:00:00Z'), 'day').flatMap((p) =>
      mediateSamples(data, mediationOptions({ from: p, to: addPeriods(p, 'day', 1) }), NOW),
    );
    expect(strip(byDay)).toEqual(strip(whole));
    expect(whole.length).toBe(6);
  });
  it('is idempotent: mediating the same period twice yields identical documents under identical ids', () => {
    const o = opts('2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z');
    expect(mediateSamples([...data].reverse(), o, NOW)).toEqual(mediateSamples(data, o, NOW));
  });
});
