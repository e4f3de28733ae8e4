import { coalescePeriods, type LateSampleTracker } from '../mediation/late';
import type { Granularity } from '../mediation/periods';
import { enqueue, type QueueSet } from './queues';

/**
 * Turn the dirty periods the LateSampleTracker recorded into mediation jobs (one per run of
 * consecutive periods), each chaining the re-rating of the WHOLE billing periods it touches (rated
 * lines are per billing period: daily re-mediation must not leave daily lines beside monthly ones),
 * which settles their invoices (redraft, or correct an issued one). The marks are forgotten only
 * after the jobs are enqueued, so a crash in between re-enqueues (idempotent) instead of losing them.
 */
export async function enqueueRemediation(
  tracker: LateSampleTracker,
  queues: QueueSet,
  opts: { granularity: Granularity; timezone: string; carrySeconds: number; planFile?: string; billingPeriod?: Granularity; inNode?: boolean },
): Promise<string[]> {
  const drained = await tracker.drain();
  const ids: string[] = [];
  for (const r of coalescePeriods(drained.periods, opts.granularity, opts.timezone)) {
    ids.push(
      await enqueue(queues, 'mediation', {
        from: r.from.toISOString(), to: r.to.toISOString(), granularity: opts.granularity, timezone: opts.timezone,
        carrySeconds: opts.carrySeconds,
        ...(opts.inNode ? { inNode: true } : {}),
        ...(opts.planFile ? { thenRate: { planFile: opts.planFile, ...(opts.billingPeriod ? { billingPeriod: opts.billingPeriod } : {}) } } : {}),
      }),
    );
  }
  await drained.ack();
  return ids;
}
