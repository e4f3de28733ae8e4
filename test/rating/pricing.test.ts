import { describe, expect, it } from 'vitest';
import { Dec } from '../../billing/rating/money';
import { parsePlan, type Charge } from '../../billing/rating/plan';
import { priceCharge } from '../../billing/rating/pricing';

/** Build one charge through the real schema (so tests exercise what a plan file produces). */
function charge(yamlFlow: string): Charge {
  const book = parsePlan(`currency: EUR\nplans:\n  - id: p\n    projects: ["*"]\n    effective_from: 2026-01-01\n    charges:\n      - ${yamlFlow}\n`);
  return book.plans[0]!.charges[0]!;
}
const amount = (c: Charge, q: string | number) => priceCharge(c, new Dec(q)).amount.toFixed();

describe('per_unit', () => {
  const c = charge('{meter: cpu_hours, model: per_unit, unit_price: "0.021"}');
  it('multiplies units by the unit price exactly (no binary float error)', () => {
    expect(amount(c, 3)).toBe('0.063');
    expect(amount(c, '0.1')).toBe('0.0021');
  });
  it('charges nothing for zero usage', () => {
    expect(amount(c, 0)).toBe('0');
    expect(priceCharge(c, new Dec(0)).steps).toEqual([]);
  });
});

describe('free units', () => {
  const c = charge('{meter: cpu_hours, model: per_unit, unit_price: "2", free: 10}');
  it('deducts free units before pricing', () => {
    expect(amount(c, 15)).toBe('10');
    expect(priceCharge(c, new Dec(15)).billable.toFixed()).toBe('5');
  });
  it('never goes below zero when usage is within the free allowance', () => {
    expect(amount(c, 10)).toBe('0');
    expect(amount(c, 4)).toBe('0');
  });
  it('applies before tiers (the free units do not consume the first tier)', () => {
    const g = charge('{meter: gb, model: graduated, free: 50, tiers: [{up_to: 100, unit_price: "1"}, {up_to: null, unit_price: "0.5"}]}');
    // 170 - 50 free = 120 billable: 100 × 1 + 20 × 0.5
    expect(amount(g, 170)).toBe('110');
  });
});

describe('graduated', () => {
  const c = charge('{meter: gb_month, model: graduated, tiers: [{up_to: 100, unit_price: "0.10"}, {up_to: 500, unit_price: "0.07"}, {up_to: null, unit_price: "0.05"}]}');
  it('prices a quantity exactly at a tier boundary wholly in the lower tier', () => {
    expect(amount(c, 100)).toBe('10');
    expect(priceCharge(c, new Dec(100)).steps.map((s) => s.tier)).toEqual([0]);
  });
  it('prices just above a boundary partly in the next tier', () => {
    expect(amount(c, '100.5')).toBe('10.035');
    expect(amount(c, 101)).toBe('10.07');
  });
  it('prices each slice at its own tier price across all tiers', () => {
    // 100 × 0.10 + 400 × 0.07 + 100 × 0.05
    expect(amount(c, 600)).toBe('43');
    expect(priceCharge(c, new Dec(600)).steps.map((s) => [s.tier, s.quantity.toFixed(), s.amount.toFixed()])).toEqual([
      [0, '100', '10'], [1, '400', '28'], [2, '100', '5'],
    ]);
  });
});

describe('volume', () => {
  const c = charge('{meter: requests, model: volume, tiers: [{up_to: 1000, unit_price: "0.002"}, {up_to: null, unit_price: "0.001"}]}');
  it('prices all units at the first tier when the total is exactly at up_to', () => {
    expect(amount(c, 1000)).toBe('2');
  });
  it('prices all units at the next tier just above up_to (volume discount)', () => {
    expect(amount(c, 1001)).toBe('1.001');
  });
  it('charges nothing for zero usage', () => {
    expect(amount(c, 0)).toBe('0');
  });
});

describe('package', () => {
  const c = charge('{meter: egress_gb, model: package, package_size: 100, package_price: "4.00"}');
  it('rounds partial packages up', () => {
    expect(amount(c, 1)).toBe('4');
    expect(amount(c, 100)).toBe('4');
    expect(amount(c, '100.01')).toBe('8');
    expect(amount(c, 250)).toBe('12');
  });
  it('charges no package for zero usage', () => {
    expect(amount(c, 0)).toBe('0');
  });
});

describe('flat', () => {
  const c = charge('{meter: instance, model: flat, price: "5.00"}');
  it('charges the price once when there is any usage, whatever the amount', () => {
    expect(amount(c, '0.001')).toBe('5');
    expect(amount(c, 744)).toBe('5');
  });
  it('charges nothing without usage', () => {
    expect(amount(c, 0)).toBe('0');
  });
});

describe('minimum', () => {
  const c = charge('{meter: cpu_hours, model: per_unit, unit_price: "0.021", free: 10, minimum: "1.00"}');
  it('raises a positive charge below the minimum to the minimum', () => {
    const p = priceCharge(c, new Dec(20)); // 10 billable × 0.021 = 0.21
    expect(p.raw.toFixed()).toBe('0.21');
    expect(p.amount.toFixed()).toBe('1');
    expect(p.minimumApplied).toBe(true);
  });
  it('leaves a charge above the minimum unchanged', () => {
    const p = priceCharge(c, new Dec(110)); // 100 × 0.021 = 2.1
    expect(p.amount.toFixed()).toBe('2.1');
    expect(p.minimumApplied).toBe(false);
  });
  it('does not turn a zero charge (all usage free) into the minimum', () => {
    const p = priceCharge(c, new Dec(5));
    expect(p.amount.toFixed()).toBe('0');
    expect(p.minimumApplied).toBe(false);
  });
});
