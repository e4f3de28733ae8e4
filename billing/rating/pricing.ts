import { Dec } from './money';
import type { Charge } from './plan';

/** One priced slice of a quantity (a tier's share, the packages bought, the flat fee...). */
export interface PriceStep {
  quantity: Dec;
  unit_price: Dec;
  amount: Dec;
  /** Which tier (0-based) the step belongs to, for tiered models. */
  tier?: number;
}

export interface PricedCharge {
  /** Usage after free units were deducted. */
  billable: Dec;
  steps: PriceStep[];
  /** Amount before the minimum and before rounding. */
  raw: Dec;
  /** Amount after the minimum, before rounding. */
  amount: Dec;
  minimumApplied: boolean;
}

const ZERO = new Dec(0);

function graduated(units: Dec, tiers: Extract<Charge, { model: 'graduated' }>['tiers']): PriceStep[] {
  const steps: PriceStep[] = [];
  let lower = ZERO;
  tiers.forEach((t, i) => {
    if (units.lte(lower)) return;
    const upper = t.up_to === null ? units : Dec.min(units, t.up_to);
    const slice = upper.minus(lower);
    if (slice.gt(0)) steps.push({ tier: i, quantity: slice, unit_price: t.unit_price, amount: slice.times(t.unit_price) });
    if (t.up_to !== null) lower = t.up_to;
  });
  return steps;
}

function volume(units: Dec, tiers: Extract<Charge, { model: 'volume' }>['tiers']): PriceStep[] {
  if (units.lte(0)) return [];
  const i = tiers.findIndex((t) => t.up_to === null || units.lte(t.up_to));
  const t = tiers[i]!; // the schema guarantees an unbounded last tier
  return [{ tier: i, quantity: units, unit_price: t.unit_price, amount: units.times(t.unit_price) }];
}

/**
 * Price one charge for one period's summed quantity: deduct `free`, apply the model, then raise a
 * positive amount to `minimum`. Rounding to the currency happens on the line (see rate.ts).
 *
 * - per_unit: units × unit_price
 * - graduated: each tier's slice (previous up_to, up_to] at that tier's price
 * - volume: all units at the price of the tier the total falls in (up_to inclusive)
 * - package: ceil(units / package_size) × package_price
 * - flat: price when units > 0
 */
export function priceCharge(charge: Charge, quantity: Dec): PricedCharge {
  const billable = Dec.max(ZERO, quantity.minus(charge.free ?? ZERO));
  let steps: PriceStep[];
  switch (charge.model) {
    case 'per_unit':
      steps = billable.gt(0) ? [{ quantity: billable, unit_price: charge.unit_price, amount: billable.times(charge.unit_price) }] : [];
      break;
    case 'graduated':
      steps = graduated(billable, charge.tiers);
      break;
    case 'volume':
      steps = volume(billable, charge.tiers);
      break;
    case 'package': {
      const packages = billable.div(charge.package_size).ceil();
      steps = packages.gt(0) ? [{ quantity: packages, unit_price: charge.package_price, amount: packages.times(charge.package_price) }] : [];
      break;
    }
    case 'flat':
      steps = billable.gt(0) ? [{ quantity: new Dec(1), unit_price: charge.price, amount: charge.price }] : [];
      break;
  }
  const raw = steps.reduce((s, st) => s.plus(st.amount), ZERO);
  const minimumApplied = charge.minimum !== undefined && raw.gt(0) && raw.lt(charge.minimum);
  return { billable, steps, raw, amount: minimumApplied ? charge.minimum! : raw, minimumApplied };
}
