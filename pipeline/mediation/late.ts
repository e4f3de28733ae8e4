import type { SampleObserver, StoredSample } from '../sample';
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

/**
 * The ingestion hook that notices late samples: registered as a SampleObserver, it records which
 * closed periods the stored samples change (no store queries; a few period computations per sample,
 * skipped for samples newer than the watermark). A scheduler calls `drain()` and re-mediates (then
 * re-rates) those periods; the $merge makes that idempotent.
 */
export class LateSampleTracker implements SampleObserver {
  readonly name = 'mediation-late-data';
  private readonly dirty = new Map<number, Date>();
  private lateSamples = 0;

  constructor(private readonly policy: LateDataPolicy, private watermark: Date) {}

  /** Periods ending at or before `w` are now closed (call after each scheduled mediation). */
  advanceWatermark(w: Date): void {
    if (w > this.watermark) this.watermark = w;
  }

  get currentWatermark(): Date {
    return this.watermark;
  }

  onStored(samples: readonly StoredSample[]): void {
    const horizon = this.watermark.getTime() + this.policy.carrySeconds * 1000;
    for (const s of samples) {
      if (s.timestamp.getTime() >= horizon) continue;
      const periods = affectedClosedPeriods(s.timestamp, this.watermark, this.policy);
      if (periods.length > 0) this.lateSamples++;
      for (const p of periods) this.dirty.set(p.getTime(), p);
    }
  }

  /** Late samples seen since the last drain. */
  get pendingSamples(): number {
    return this.lateSamples;
  }

  /** The dirty closed periods, sorted; clears them. */
  drain(): Date[] {
    const out = [...this.dirty.values()].sort((a, b) => a.getTime() - b.getTime());
    this.dirty.clear();
    this.lateSamples = 0;
    return out;
  }
}
