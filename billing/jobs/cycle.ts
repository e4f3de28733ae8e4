import type { Db } from 'mongodb';
import { FenceStore, FencedOutError, fencedWrite, type FenceToken } from '../../cluster/fence';
import { BILLING_CYCLE_PROGRESS } from '../../cluster/fenced-documents';
import { isDuplicateKeyError } from '../../pipeline/store/bulk-errors';
import { dueInvoicePeriods } from '../invoices/schedule';
import { addPeriods, periodStart, type Granularity } from '../mediation/periods';
import { loadPlanFile } from '../rating/plan';
import { checkPlanZone, processMediation, rateAndSettle, type JobContext, type JobDeps } from './processors';

/** A scheduled billing cycle: mediate, rate and invoice every billing period that is due. */
export interface BillingCycleJob {
  /** Mediation period unit and zone. */
  granularity: Granularity;
  timezone: string;
  carrySeconds: number;
  inNode?: boolean;
  /** Billing period (must be a whole number of mediation periods: hour ≤ day ≤ month). */
  billingPeriod: Granularity;
  graceSeconds: number;
  planFile: string;
  currency?: string;
  issue?: boolean;
  /** The cycle's clock (ISO); default the time the job runs. */
  now?: string;
  /**
   * With several controllers: the fencing token of the billing-cycle lease holder that scheduled it. A
   * cycle whose token a newer holder has overtaken does nothing (cluster/fence.ts).
   */
  fence?: FenceToken & { controller: string };
}

const ORDER: Granularity[] = ['hour', 'day', 'month'];
const STATE_ID = BILLING_CYCLE_PROGRESS.id;

/**
 * Run the billing cycle: every billing period that ended at least `graceSeconds` ago and has not
 * been invoiced yet is mediated, rated (rolled up to the billing period) and invoiced per project
 * (drafted; issued too with `issue`). Where the cycle got to is kept in `counters` (`billing-cycle`),
 * so the next tick starts after it; the first tick does only the latest due period. Every step
 * replaces its results, so a retried or repeated cycle never charges twice.
 */
export async function processBillingCycle(deps: JobDeps, data: BillingCycleJob, ctx: JobContext) {
  if (ORDER.indexOf(data.granularity) > ORDER.indexOf(data.billingPeriod)) {
    throw new Error(`billing period ${data.billingPeriod} is shorter than the mediation period ${data.granularity}`);
  }
  const now = data.now ? new Date(data.now) : new Date();
  const fences = data.fence ? new FenceStore(deps.db) : undefined;
  // the check at the point of action, before each period: a cycle of an overtaken leader stops here
  const checkFence = async () => {
    if (fences && data.fence) await fences.advance(data.fence, data.fence.controller);
  };
  try {
    await checkFence();
  } catch (err) {
    if (err instanceof FencedOutError) return { now: now.toISOString(), periods: [], superseded: err.message };
    throw err;
  }
  const state = deps.db.collection<{ _id: string; last_end?: Date }>(BILLING_CYCLE_PROGRESS.collection);
  const saved = await state.findOne({ _id: STATE_ID });
  const tz = data.timezone;
  const latestDue = addPeriods(periodStart(new Date(now.getTime() - data.graceSeconds * 1000), data.billingPeriod, tz), data.billingPeriod, -1, tz);
  const due = dueInvoicePeriods(saved?.last_end ?? latestDue, now, { granularity: data.billingPeriod, timezone: tz, graceSeconds: data.graceSeconds });
  const quiet: JobContext = { progress: async () => undefined };
  const periods: Array<{ from: string; to: string; usageDocs: number; invoices: unknown[] }> = [];
  for (const [i, p] of due.entries()) {
    if (i > 0) await checkFence();
    const range = { from: p.start.toISOString(), to: p.end.toISOString(), timezone: tz };
    const m = await processMediation(deps, { ...range, granularity: data.granularity, carrySeconds: data.carrySeconds, ...(data.inNode ? { inNode: true } : {}) }, quiet);
    const book = loadPlanFile(data.planFile);
    checkPlanZone(book, data.planFile, tz);
    // rate, then draft (and issue) every project's invoice, all under the period's billing lock
    const { invoices } = await rateAndSettle(deps, { ...range, granularity: data.granularity, planFile: data.planFile, billingPeriod: data.billingPeriod }, book, {
      draftNew: true, ...(data.issue ? { issue: true } : {}), ...(data.currency ? { currency: data.currency } : {}),
    });
    // with a fence the cycle's progress carries the token: a write with an older one than the document
    // holds (every fence advance raises it to the role's fence, cluster/fenced-documents.ts) is refused
    const w = data.fence ? fencedWrite({ _id: STATE_ID }, data.fence) : { filter: { _id: STATE_ID }, set: {} };
    try {
      await state.updateOne(w.filter as never, { $set: { last_end: p.end, ...w.set } }, { upsert: true });
    } catch (err) {
      if (data.fence && isDuplicateKeyError(err)) throw new FencedOutError('billing-cycle', data.fence.token, `the cycle's progress carries a newer token than ${data.fence.token}: a newer leader has advanced the billing-cycle fence`);
      throw err;
    }
    periods.push({ ...range, usageDocs: m.usageDocs, invoices });
    await ctx.progress(Math.round(((i + 1) / due.length) * 100));
  }
  return { now: now.toISOString(), periods };
}

/** Pure check used by the routes and the cycle: a mediation range must cover whole billing periods. */
export function isWholeBillingRange(from: Date, to: Date, billingPeriod: Granularity, tz: string): boolean {
  return periodStart(from, billingPeriod, tz).getTime() === from.getTime() && periodStart(to, billingPeriod, tz).getTime() === to.getTime();
}
