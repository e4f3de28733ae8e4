import { Dec } from '../rating/money';
import type { UsageRecord } from '../rating/usage';
import type { UsageDoc } from './usage-doc';

/**
 * Mediated usage → the billable quantities rating takes, per project, period and meter:
 * gauges bill their time-weighted usage (unit-hours: instance-hours, GB-hours), cumulative
 * counters their reset-aware increase, delta meters their sum. Records keep the user (for rating
 * per user); documents without a project are not billable and are left out.
 */
export function billableUsage(docs: readonly UsageDoc[]): UsageRecord[] {
  const out = new Map<string, UsageRecord>();
  for (const u of docs) {
    if (u.project_id === null) continue;
    let qty: number;
    let unit: string;
    if (u.counter_type === 'gauge') {
      qty = u.time_weighted ?? 0;
      unit = `${u.unit}-hours`;
    } else if (u.counter_type === 'cumulative') {
      qty = u.delta ?? 0;
      unit = u.unit;
    } else {
      qty = u.sum;
      unit = u.unit;
    }
    const key = JSON.stringify([u.project_id, u.user_id, u.period_start.getTime(), u.period_end.getTime(), u.meter, unit]);
    const rec = out.get(key);
    if (rec) rec.quantity = rec.quantity.plus(new Dec(qty));
    else out.set(key, { project_id: u.project_id, ...(u.user_id !== null ? { user_id: u.user_id } : {}), meter: u.meter, period_start: u.period_start, period_end: u.period_end, quantity: new Dec(qty), unit });
  }
  return [...out.values()];
}
