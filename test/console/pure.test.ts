import { describe, expect, it } from 'vitest';
import { aggregate, alignSeries } from '../../console/ui/aggregate';
import { axisUnit, formatBinaryBytes, formatBytes, formatDuration, formatMoney, formatPct, readable } from '../../console/ui/units';
import { chooseStep, MAX_POINTS, seriesPoints, SeriesInputError, shownUnit } from '../../console/series';
import { hasCompliance } from '../../console/ui/panels/compliance';

describe('readable units', () => {
  it('bytes in decimal (traffic, data) and binary (memory) units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(16_716_262)).toBe('16.7 MB');
    expect(formatBytes(43.99e9)).toBe('44 GB');
    expect(formatBinaryBytes(2 * 1024 ** 3)).toBe('2 GiB');
    expect(formatBinaryBytes(1536)).toBe('1.5 KiB');
  });
  it('durations from µs to days', () => {
    expect(formatDuration(0.000_25)).toBe('250 µs');
    expect(formatDuration(0.354)).toBe('354 ms');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(900)).toBe('15 min');
    expect(formatDuration(5 * 3600)).toBe('5 h');
    expect(formatDuration(7 * 86400)).toBe('7 days');
    expect(formatDuration(null)).toBe('–');
  });
  it('Ceilometer units made readable: CPU ns as hours, ns/s as cores, MiB as GiB', () => {
    expect(readable(19_125e9 * 1000 / 1000, 'ns')).toBe('5.31 h');
    expect(readable(2.1e9, 'ns/s')).toBe('2.1 cores');
    expect(readable(2048, 'MiB')).toBe('2 GiB');
    expect(readable(1_500_000, 'B/s')).toBe('1.5 MB/s');
    expect(readable(47.3, '%')).toBe('47.3 %');
    expect(axisUnit('ns/s')).toEqual({ factor: 1e-9, label: 'CPU cores' });
  });
  it('money with its currency, percentages with their sign', () => {
    expect(formatMoney('36.27', 'EUR')).toBe('€36.27');
    expect(formatMoney('1234.5', 'USD')).toBe('US$1,234.50');
    expect(formatMoney('12.00', 'XXQ')).toMatch(/XXQ.*12\.00/);
    expect(formatPct(3.2906)).toBe('3.3 %');
  });
});

describe('aggregation over the chosen hosts (in the browser)', () => {
  const a = { label: 'a', points: [{ t: 0, value: 1 }, { t: 60, value: 3 }, { t: 120, value: null }] };
  const b = { label: 'b', points: [{ t: 60, value: 5 }, { t: 120, value: 2 }, { t: 180, value: 4 }] };
  it('lines the series up by time and aggregates what each instant has', () => {
    const { times, values } = alignSeries([a, b]);
    expect(times).toEqual([0, 60, 120, 180]);
    expect(values).toEqual([[1, 3, null, null], [null, 5, 2, 4]]);
    expect(aggregate('sum', values, times.length)).toEqual([1, 8, 2, 4]);
    expect(aggregate('avg', values, times.length)).toEqual([1, 4, 2, 4]);
    expect(aggregate('max', values, times.length)).toEqual([1, 5, 2, 4]);
    expect(aggregate('sum', [[null], [null]], 1)).toEqual([null]);
  });
});

describe('series over stored samples', () => {
  it('chooses a step of about 200 points, or checks the one asked for', () => {
    expect(chooseStep(3600)).toBe(30);
    expect(chooseStep(7 * 86400)).toBe(3600);
    expect(chooseStep(3600, 5)).toBe(5);
    expect(() => chooseStep(86400, 1)).toThrow(SeriesInputError);
    expect(() => chooseStep(86400, 1)).toThrow(new RegExp(`at most ${MAX_POINTS}`));
    expect(() => chooseStep(3600, -5)).toThrow(/seconds > 0/);
  });
  it('shows gauges as averages and cumulative counters as rates, with no value across a reset', () => {
    const b = (t: number, last_v: number, last_t: number, avg = last_v) => ({ t, avg, max: avg, min: avg, n: 1, last_v, last_t });
    expect(seriesPoints('gauge', [b(60_000, 5, 60_000), b(0, 3, 0)]).map((p) => p.value)).toEqual([3, 5]);
    const cum = seriesPoints('cumulative', [b(0, 1000, 0), b(60_000, 7000, 60_000), b(120_000, 500, 120_000), b(180_000, 1100, 180_000)]);
    expect(cum.map((p) => p.value)).toEqual([null, 100, null, 10]);
    expect(shownUnit('cumulative', 'ns')).toBe('ns/s');
    expect(shownUnit('gauge', '%')).toBe('%');
  });
});

describe('compliance panel', () => {
  it('finds the compliance capability (GET /v1/compliance) in the OpenAPI description, or not', () => {
    expect(hasCompliance({ paths: { '/v1/usage': { get: {} } } })).toBe(false);
    expect(hasCompliance({ paths: { '/v1/compliance': { post: {} } } })).toBe(false);
    expect(hasCompliance({ paths: { '/v1/compliance': { get: {} }, '/v1/compliance/alerts': { get: {} } } })).toBe(true);
  });
});
