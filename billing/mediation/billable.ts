import { Dec } from '../rating/money';
import type { UsageRecord } from '../rating/usage';
import type { UsageDoc } from './usage-doc';

/**
 * Mediated usage → the billable quantities rating takes, per project, period and meter:
 * gauges bill their time-weighted usage (unit-hours: instance-hours, GB-hours), cumulative
 * counters their reset-aware increase, delta meters their sum. Records keep the user (for rating
 * per user); documents without a project are not billable and are left out.
 */
/**
 * Mediation sums binary floats (in Node and in MongoDB's $sum alike), so a quantity carries noise in
 * its last bits: 0.2 + 83.9 + 15.9 is 100.00000000000001, which would bill a second 100 GB package,
 * and a counter read as 0.3 then 0.1 + 0.2 leaves a 5.5e-17 delta that would trigger a flat charge.
 * Quantities are therefore taken at 12 significant digits and 9 decimal places (nano-units): far
 * finer than any price, and the same whichever engine summed them.
 */
export function billableQuantity(qty: number): Dec {
  return new Dec(qty).toSignificantDigits(12).toDecimalPlaces(9);
}

/**
 * The exact quantity of a usage document when mediation recorded one (`exact`, decimal sums: every
 * unit of a 1e15-byte counter counts); documents written before exact quantities existed fall back
 * to the float at 12 significant digits.
 */
function quantityOf(u: UsageDoc): Dec {
  const field = u.counter_type === 'gauge' ? 'time_weighted' : u.counter_type === 'cumulative' ? 'delta' : 'sum';
  const exact = u.exact?.[field];
  if (exact !== undefined && exact !== null) return new Dec(exact.toString());
  return billableQuantity((field === 'sum' ? u.sum : u[field]) ?? 0);
}

export function billableUsage(docs: readonly UsageDoc[]): UsageRecord[] {
  const out = new Map<string, UsageRecord>();
  for (const u of docs) {
    if (u.project_id === null) continue;
    const qty = quantityOf(u);
    const unit = u.counter_type === 'gauge' ? `${u.unit}-hours` : u.unit;
    const key = JSON.stringify([u.project_id, u.user_id, u.period_start.getTime(), u.period_end.getTime(), u.meter, unit]);
    const rec = out.get(key);
    if (rec) rec.quantity = rec.quantity.plus(qty);
    else out.set(key, { project_id: u.project_id, ...(u.user_id !== null ? { user_id: u.user_id } : {}), meter: u.meter, period_start: u.period_start, period_end: u.period_end, quantity: qty, unit });
  }
  return [...out.values()];
}
