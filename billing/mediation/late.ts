import type { Db } from 'mongodb';
import type { SampleObserver, StoredSample } from '../../pipeline/sample';
import { currentRuns } from './runs';
import { addPeriods, periodStart, type Granularity } from './periods';

export interface LateDataPolicy {
  granularity: Granularity;
  timezone: string;
  /** The mediation carry (seconds): a sample also changes neighbouring periods this close to it. */
  carrySeconds: number;
}

/**
 * Closed periods a sample at `timestamp` changes once stored. Periods ending at or before the
 * watermark are closed (already mediated, maybe rated). Besides its own period, a sample alters
 * every period within `carry` of it: its gauge value carries forward, it shortens its
 * predecessor's hold, and it becomes the baseline of its successor's cumulative increase.
 */
export function affectedClosedPeriods(timestamp: Date, watermark: Date, p: LateDataPolicy): Date[] {
  const carryMs = p.carrySeconds * 1000;
  const t = timestamp.getTime();
  const out: Date[] = [];
  if (t - carryMs >= watermark.getTime()) return out; // nothing closed can change
  const last = new Date(t + carryMs);
  for (let s = periodStart(new Date(t - carryMs), p.granularity, p.timezone); s <= last; s = addPeriods(s, p.granularity, 1, p.timezone)) {
    if (addPeriods(s, p.granularity, 1, p.timezone) > watermark) break; // not closed
    out.push(s);
  }
  return out;
}

/** Closed periods to re-mediate for a batch of newly stored sample timestamps, sorted, unique. */
export function periodsToRemediate(timestamps: Iterable<Date>, watermark: Date, p: LateDataPolicy): Date[] {
  const seen = new Map<number, Date>();
  for (const ts of timestamps) for (const s of affectedClosedPeriods(ts, watermark, p)) seen.set(s.getTime(), s);
  return [...seen.values()].sort((a, b) => a.getTime() - b.getTime());
}

/** Consecutive periods merged into [from, to) ranges, so one pipeline run covers each range. */
export function coalescePeriods(starts: readonly Date[], granularity: Granularity, timezone: string): { from: Date; to: Date }[] {
  const out: { from: Date; to: Date }[] = [];
  for (const s of [...starts].sort((a, b) => a.getTime() - b.getTime())) {
    const end = addPeriods(s, granularity, 1, timezone);
    const last = out[out.length - 1];
    if (last && last.to.getTime() >= s.getTime()) {
      if (end > last.to) last.to = end;
    } else out.push({ from: s, to: end });
  }
  return out;
}

/** Every period a sample at `timestamp` changes once stored (its own and those within the carry). */
export function affectedPeriods(timestamp: Date, p: LateDataPolicy): Date[] {
  return affectedClosedPeriods(timestamp, END_OF_TIME, p);
}
const END_OF_TIME = new Date(8.64e15);

interface MarkDoc {
  _id: string;
  granularity: Granularity;
  timezone: string;
  period_start: Date;
  /** When the newest sample changing this period was stored (after its write was acknowledged). */
  stored_at: Date;
}

export interface DrainedPeriods {
  /** Periods whose current mediation run may lack samples stored since it started, sorted. */
  periods: Date[];
  /** Forget the marks read (call after the re-mediation jobs are durably enqueued); newer marks stay. */
  ack(): Promise<void>;
}

/**
 * The ingestion hook that notices late samples, persisted in MongoDB (`late_marks`) so a restart
 * forgets nothing. For each stored batch it records, per period the samples change (their own and
 * those within the carry), when the newest of them was stored: one upsert with `$max` per period
 * touched, no reads. The watermark of a period is when its current mediation run started reading
 * (runs.ts): a period is dirty when a sample changing it was stored after that (minus a margin for
 * clock skew between hosts; re-mediating once too often is harmless, missing a sample is not).
 * Periods never mediated are not dirty: their first mediation reads everything.
 */
export class LateSampleTracker implements SampleObserver {
  readonly name = 'mediation-late-data';
  private lateSamples = 0;
  private writing: Promise<void> = Promise.resolve();
  private failures = 0;

  constructor(
    private readonly db: Db,
    private readonly policy: LateDataPolicy,
    private readonly opts: { collection?: string; usage?: string; marginMs?: number; onError?: (err: Error) => void } = {},
  ) {}

  private get marks() {
    return this.db.collection<MarkDoc>(this.opts.collection ?? 'late_marks');
  }

  onStored(samples: readonly StoredSample[]): void {
    const storedAt = new Date();
    const current = periodStart(storedAt, this.policy.granularity, this.policy.timezone).getTime();
    const periods = new Map<number, Date>();
    for (const s of samples) {
      if (s.timestamp.getTime() < current) this.lateSamples++;
      for (const p of affectedPeriods(s.timestamp, this.policy)) periods.set(p.getTime(), p);
    }
    if (periods.size === 0) return;
    const { granularity, timezone } = this.policy;
    const ops = [...periods.values()].map((p) => ({
      updateOne: {
        filter: { _id: `${granularity}|${timezone}|${p.toISOString()}` },
        update: { $max: { stored_at: storedAt }, $setOnInsert: { granularity, timezone, period_start: p } },
        upsert: true,
      },
    }));
    this.writing = this.writing.then(async () => {
      try {
        await this.marks.bulkWrite(ops, { ordered: false });
      } catch (err) {
        this.failures++;
        this.opts.onError?.(err as Error);
      }
    });
  }

  /** Wait for the marks of every batch seen so far to be written. */
  async flush(): Promise<void> {
    await this.writing;
  }

  /** Samples behind the current period seen since the last drain (for the metric). */
  get pendingSamples(): number {
    return this.lateSamples;
  }

  /** Mark writes that failed (each also went to onError). */
  get writeFailures(): number {
    return this.failures;
  }

  /** The dirty periods (see the class comment) and a way to forget the marks read. */
  async drain(): Promise<DrainedPeriods> {
    await this.flush();
    this.lateSamples = 0;
    const { granularity, timezone } = this.policy;
    const marks = await this.marks.find({ granularity, timezone }).toArray();
    const { current } = await currentRuns(this.db, { kind: this.opts.usage ?? 'usage', granularity, timezone });
    const margin = this.opts.marginMs ?? 5000;
    // a period without a run yet keeps its mark: a first mediation may be reading right now, and if
    // it started before the sample was stored the next drain (once the run exists) must see it
    const decided = marks.filter((m) => current.has(m.period_start.getTime()));
    const periods = decided
      .filter((m) => m.stored_at.getTime() >= current.get(m.period_start.getTime())!.started_at.getTime() - margin)
      .map((m) => m.period_start)
      .sort((a, b) => a.getTime() - b.getTime());
    return {
      periods,
      ack: async () => {
        if (decided.length) await this.marks.bulkWrite(decided.map((m) => ({ deleteOne: { filter: { _id: m._id, stored_at: m.stored_at } } })), { ordered: false });
      },
    };
  }
}
