import { describe, expect, it } from 'vitest';
import { hourKey } from '../../../pipeline/monitor/hours';
import { lagOf } from '../../../pipeline/monitor/lag';
import { quantileFromBuckets, RateHistory } from '../../../pipeline/monitor/rates';
import { MAX_CLASSES, reasonClass, ReasonClasses } from '../../../pipeline/monitor/reasons';
import { compareCounts, reconcileWindow, ReconcileInputError } from '../../../pipeline/monitor/reconcile';

describe('dead-letter reason classes', () => {
  it('name the field at fault, the store refusals and the rest', () => {
    expect(reasonClass('timestamp: expected an ISO-8601 date-time string, got 12')).toBe('timestamp');
    expect(reasonClass('message_signature: does not match the HMAC-SHA256 …')).toBe('message_signature');
    expect(reasonClass('oslo.message: Unexpected token')).toBe('oslo.message');
    expect(reasonClass('the store refused this sample 3 times while taking other writes: BSONObjectTooLarge')).toBe('store_refused');
    expect(reasonClass('something odd happened')).toBe('other');
    expect(reasonClass('')).toBe('other');
  });

  it('never hand out more than MAX_CLASSES labels, whatever the input', () => {
    const classes = new ReasonClasses();
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(classes.of(`field_${i}: bad`));
    expect(seen.size).toBe(MAX_CLASSES);
    expect(seen.has('other')).toBe(true);
    expect(classes.of('field_1: again')).toBe('field_1'); // a class handed out stays
  });
});

describe('RateHistory', () => {
  it('averages over the window and forgets what slid out of the history', () => {
    const h = new RateHistory(10_000, 6); // one minute of 10 s buckets
    const t0 = 1_000_000_000_000;
    h.add(t0, 100);
    h.add(t0 + 10_000, 200);
    // at t0+20s: 300 samples over 2 whole buckets + 0 ms of the running one = 20 s
    expect(h.rate(t0 + 20_000, 20)).toBeCloseTo(300 / 20, 6);
    expect(h.series(t0 + 20_000).map((p) => p.rate).slice(-3)).toEqual([10, 20, 0]);
    // five minutes later everything slid out
    expect(h.rate(t0 + 300_000, 50)).toBe(0);
    expect(h.series(t0 + 300_000).every((p) => p.rate === 0)).toBe(true);
  });

  it('refuses a shape that cannot hold counts', () => {
    expect(() => new RateHistory(0, 6)).toThrow(RangeError);
    expect(() => new RateHistory(1000, 0)).toThrow(RangeError);
  });
});

describe('quantileFromBuckets (histogram_quantile)', () => {
  it('interpolates inside the bucket that holds the rank', () => {
    const b = [
      { le: 0.1, count: 0 },
      { le: 0.5, count: 50 },
      { le: 1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(quantileFromBuckets(0.5, b)).toBeCloseTo(0.5, 9);
    expect(quantileFromBuckets(0.75, b)).toBeCloseTo(0.75, 9);
    expect(quantileFromBuckets(0.25, b)).toBeCloseTo(0.3, 9);
  });
  it('answers null when empty and the highest finite bound beyond it', () => {
    expect(quantileFromBuckets(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])).toBeNull();
    expect(quantileFromBuckets(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 4 }])).toBe(1);
  });
});

describe('consumer lag', () => {
  it('is end minus committed, or end minus low when the group never committed', () => {
    const lag = lagOf('t', [{ partition: 1, high: '120', low: '20' }, { partition: 0, high: '50', low: '0' }], [{ partition: 0, offset: '45' }, { partition: 1, offset: '-1' }]);
    expect(lag).toEqual([
      { topic: 't', partition: 0, committed: '45', end: '50', lag: 5 },
      { topic: 't', partition: 1, committed: null, end: '120', lag: 100 },
    ]);
  });
});

describe('reconciliation comparison', () => {
  const h = (r: string, hour: string, n: number, p = 'p1') => ({ resource_id: r, project_id: p, hour: hourKey(new Date(hour)), n });
  it('finds missing and unaccounted samples per resource and hour, the biggest loss first', () => {
    const c = compareCounts(
      [h('a', '2026-01-01T10:00:00Z', 10), h('a', '2026-01-01T11:00:00Z', 5), h('b', '2026-01-01T10:00:00Z', 7)],
      [h('a', '2026-01-01T10:00:00Z', 10), h('a', '2026-01-01T11:00:00Z', 2), h('b', '2026-01-01T10:00:00Z', 8), h('c', '2026-01-01T12:00:00Z', 1)],
    );
    expect(c.accepted_total).toBe(22);
    expect(c.stored_total).toBe(21);
    expect(c.pairs).toBe(4);
    expect(c.resources).toBe(3);
    expect(c.missing_samples).toBe(3);
    expect(c.unaccounted_samples).toBe(2);
    expect(c.differences.map((d) => [d.resource_id, d.difference, d.kind])).toEqual([
      ['a', -3, 'missing'],
      ['b', 1, 'unaccounted'],
      ['c', 1, 'unaccounted'],
    ]);
  });
  it('lists at most maxRows and says so', () => {
    const stored = Array.from({ length: 5 }, (_, i) => h(`r${i}`, '2026-01-01T10:00:00Z', 1));
    const c = compareCounts([], stored, 2);
    expect(c.differing).toBe(5);
    expect(c.differences).toHaveLength(2);
    expect(c.truncated).toBe(true);
  });
  it('rounds the window to whole hours, bounds its length and respects the TTL', () => {
    const w = reconcileWindow({ from: new Date('2026-01-01T10:30:00Z'), to: new Date('2026-01-01T12:10:00Z'), maxHours: 10 });
    expect([w.from.toISOString(), w.to.toISOString()]).toEqual(['2026-01-01T10:00:00.000Z', '2026-01-01T13:00:00.000Z']);
    expect(() => reconcileWindow({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-03T00:00:00Z'), maxHours: 24 })).toThrow(/exceeds monitor.reconcileMaxHours/);
    expect(() => reconcileWindow({ from: new Date('2026-01-02T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z'), maxHours: 24 })).toThrow(ReconcileInputError);
    const now = Date.parse('2026-01-10T00:00:00Z');
    const ttl = reconcileWindow({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-10T00:00:00Z'), maxHours: 1000, ttlSeconds: 2 * 86400, now });
    expect(ttl.from.toISOString()).toBe('2026-01-08T00:00:00.000Z');
    expect(ttl.notes[0]).toMatch(/ttlSeconds/);
  });
});
