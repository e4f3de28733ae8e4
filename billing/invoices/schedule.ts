import { addPeriods, periodStart, type Granularity } from '../mediation/periods';

/**
 * Scheduled invoicing: the closed billing periods not invoiced yet. A period is due once it has
 * ended and `graceSeconds` have passed (late samples land and are re-mediated first).
 */
export function dueInvoicePeriods(
  lastInvoicedEnd: Date,
  now: Date,
  cycle: { granularity: Granularity; timezone: string; graceSeconds: number },
): { start: Date; end: Date }[] {
  const out: { start: Date; end: Date }[] = [];
  const cutoff = now.getTime() - cycle.graceSeconds * 1000;
  for (let s = periodStart(lastInvoicedEnd, cycle.granularity, cycle.timezone); ; s = addPeriods(s, cycle.granularity, 1, cycle.timezone)) {
    const e = addPeriods(s, cycle.granularity, 1, cycle.timezone);
    if (e.getTime() > cutoff) break;
    if (s >= lastInvoicedEnd) out.push({ start: s, end: e });
  }
  return out;
}
