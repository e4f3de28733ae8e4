import { describe, expect, it } from 'vitest';
import { billableUsage } from '../../billing/mediation/billable';
import type { UsageDoc } from '../../billing/mediation/usage-doc';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';

const start = new Date('2026-02-01T00:00:00Z');
const end = new Date('2026-03-01T00:00:00Z');
const doc = (meter: string, counter_type: string, over: Partial<UsageDoc>): UsageDoc =>
  ({
    _id: { meter } as never, granularity: 'month', timezone: 'UTC', period_start: start, period_end: end,
    resource_id: 'r1', project_id: 'p1', user_id: null, meter, unit: 'GB', counter_type, count: 3,
    sum: 0, avg: null, min: null, max: null, first_timestamp: null, last_timestamp: null, duration: null,
    time_weighted: null, delta: null, ...over,
  }) as UsageDoc;

const book = parsePlan(`currency: EUR
rounding: half-even
plans:
  - id: std
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - {meter: egress_gb, model: package, package_size: 100, package_price: "4.00"}
      - {meter: instance, model: flat, price: "5.00"}
`);

describe('billable quantities from mediated (binary float) sums', () => {
  it('100 GB summed from 0.2 + 83.9 + 15.9 is one 100 GB package, not two', () => {
    const sum = 0.2 + 83.9 + 15.9;
    expect(sum).toBeGreaterThan(100); // the float noise this guards against
    const usage = billableUsage([doc('egress_gb', 'delta', { sum })]);
    expect(usage[0]!.quantity.toString()).toBe('100');
    expect(rateUsage(book, usage).projects[0]!.total).toBe('4.00');
  });

  it('a counter that did not really move (0.3 then 0.1 + 0.2) triggers no flat charge', () => {
    const delta = 0.1 + 0.2 - 0.3;
    expect(delta).toBeGreaterThan(0);
    const usage = billableUsage([doc('instance', 'cumulative', { delta })]);
    expect(usage[0]!.quantity.isZero()).toBe(true);
    expect(rateUsage(book, usage).projects[0]?.total ?? '0.00').toBe('0.00');
  });
});
