/**
 * Plausibility of a sample's volume and timestamp (pure). Field validation already refuses what is
 * not a number or not a date; these rules refuse values that are numbers and dates but cannot be a
 * measurement, so they never reach rating: a volume beyond `maxAbsVolume` (e.g. 1e308, −1e30), a
 * negative cumulative counter, a timestamp more than `maxPastSeconds` before or `maxFutureSeconds`
 * after the moment it arrives (year 0001 or 9999). Each rule can be relaxed in `ingest.plausibility`.
 */
import type { Sample } from '../sample';

export interface PlausibilityRules {
  /** Largest absolute volume accepted (0: no limit). */
  maxAbsVolume: number;
  /** Refuse cumulative counters below zero. */
  rejectNegativeCumulative: boolean;
  /** Oldest timestamp accepted, in seconds before arrival (0: no limit). */
  maxPastSeconds: number;
  /** Newest timestamp accepted, in seconds after arrival (0: no limit). */
  maxFutureSeconds: number;
}

export const DEFAULT_PLAUSIBILITY: PlausibilityRules = {
  maxAbsVolume: 1e18,
  rejectNegativeCumulative: true,
  maxPastSeconds: 788_923_800,
  maxFutureSeconds: 7 * 86_400,
};

const NO_PROBLEMS: readonly string[] = Object.freeze([]);

/** Every rule `sample` breaks at arrival time `now` (empty when plausible; an empty answer is shared and frozen). */
export function plausibilityProblems(sample: Sample, rules: PlausibilityRules, now: Date): readonly string[] {
  const v = sample.counter_volume;
  const t = sample.timestamp.getTime();
  // the usual sample breaks no rule: one shared empty answer, no list per sample
  if (
    Number.isFinite(v) &&
    !(rules.maxAbsVolume > 0 && Math.abs(v) > rules.maxAbsVolume) &&
    !(rules.rejectNegativeCumulative && sample.counter_type === 'cumulative' && v < 0) &&
    !Number.isNaN(t) &&
    !(rules.maxPastSeconds > 0 && t < now.getTime() - rules.maxPastSeconds * 1000) &&
    !(rules.maxFutureSeconds > 0 && t > now.getTime() + rules.maxFutureSeconds * 1000)
  ) {
    return NO_PROBLEMS;
  }
  const problems: string[] = [];
  if (!Number.isFinite(v)) problems.push(`volume: expected a finite number, got ${v}`);
  else {
    if (rules.maxAbsVolume > 0 && Math.abs(v) > rules.maxAbsVolume) {
      problems.push(`volume: ${v} is beyond the plausible magnitude ${rules.maxAbsVolume} (ingest.plausibility.maxAbsVolume)`);
    }
    if (rules.rejectNegativeCumulative && sample.counter_type === 'cumulative' && v < 0) {
      problems.push(`volume: ${v} is negative, but ${sample.counter_name} is a cumulative counter (ingest.plausibility.rejectNegativeCumulative)`);
    }
  }
  if (Number.isNaN(t)) problems.push('timestamp: not a valid date');
  else {
    // (the dates are rendered only for a message: this runs for every sample)
    if (rules.maxPastSeconds > 0 && t < now.getTime() - rules.maxPastSeconds * 1000) {
      problems.push(`timestamp: ${sample.timestamp.toISOString()} is more than ${rules.maxPastSeconds} s before arrival (${now.toISOString()}; ingest.plausibility.maxPastSeconds)`);
    }
    if (rules.maxFutureSeconds > 0 && t > now.getTime() + rules.maxFutureSeconds * 1000) {
      problems.push(`timestamp: ${sample.timestamp.toISOString()} is more than ${rules.maxFutureSeconds} s after arrival (${now.toISOString()}; ingest.plausibility.maxFutureSeconds)`);
    }
  }
  return problems;
}
