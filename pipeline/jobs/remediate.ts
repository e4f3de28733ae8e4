import { coalescePeriods, type LateSampleTracker } from '../mediation/late';
import type { Granularity } from '../mediation/periods';
import { enqueue, type QueueSet } from './queues';

/**
 * Turn the closed periods a LateSampleTracker collected into mediation jobs (one per run of
 * consecutive periods), each chaining the re-rating of its range. Deterministic job ids make a
 * second call for the same still-waiting range a no-op. Returns the enqueued job ids.
 */
export async function enqueueRemediation(
  tracker: LateSampleTracker,
  queues: QueueSet,
  opts: { granularity: Granularity; timezone: string; carrySeconds: number; planFile?: string; inNode?: boolean },
): Promise<string[]> {
  const ids: string[] = [];
  for (const r of coalescePeriods(tracker.drain(), opts.granularity, opts.timezone)) {
    ids.push(
      await enqueue(queues, 'mediation', {
        from: r.from.toISOString(), to: r.to.toISOString(), granularity: opts.granularity, timezone: opts.timezone,
        carrySeconds: opts.carrySeconds,
        ...(opts.inNode ? { inNode: true } : {}),
        ...(opts.planFile ? { thenRate: { planFile: opts.planFile } } : {}),
      }),
    );
  }
  return ids;
}
