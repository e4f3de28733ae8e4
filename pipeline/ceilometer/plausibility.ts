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

/**
 * One plausibility rule: `breaks` is the check run on every sample (cheap: no strings), `reason` the
 * message for a sample it breaks. The one table serves both the fast answer for the usual sample and
 * the reasons, so the two cannot disagree.
 */
export interface PlausibilityRule {
  /** The setting that relaxes it (or the field it checks). */
  readonly name: string;
  breaks(sample: Sample, rules: PlausibilityRules, nowMs: number): boolean;
  reason(sample: Sample, rules: PlausibilityRules, now: Date): string;
}

export const PLAUSIBILITY_RULES: readonly PlausibilityRule[] = Object.freeze([
  {
    name: 'volume',
    breaks: (s) => !Number.isFinite(s.counter_volume),
    reason: (s) => `volume: expected a finite number, got ${s.counter_volume}`,
  },
  {
    name: 'maxAbsVolume',
    breaks: (s, r) => Number.isFinite(s.counter_volume) && r.maxAbsVolume > 0 && Math.abs(s.counter_volume) > r.maxAbsVolume,
    reason: (s, r) => `volume: ${s.counter_volume} is beyond the plausible magnitude ${r.maxAbsVolume} (ingest.plausibility.maxAbsVolume)`,
  },
  {
    name: 'rejectNegativeCumulative',
    breaks: (s, r) => Number.isFinite(s.counter_volume) && r.rejectNegativeCumulative && s.counter_type === 'cumulative' && s.counter_volume < 0,
    reason: (s) => `volume: ${s.counter_volume} is negative, but ${s.counter_name} is a cumulative counter (ingest.plausibility.rejectNegativeCumulative)`,
  },
  {
    name: 'timestamp',
    breaks: (s) => Number.isNaN(s.timestamp.getTime()),
    reason: () => 'timestamp: not a valid date',
  },
  {
    name: 'maxPastSeconds',
    breaks: (s, r, nowMs) => r.maxPastSeconds > 0 && s.timestamp.getTime() < nowMs - r.maxPastSeconds * 1000,
    // (the dates are rendered only for a message: the checks run for every sample)
    reason: (s, r, now) => `timestamp: ${s.timestamp.toISOString()} is more than ${r.maxPastSeconds} s before arrival (${now.toISOString()}; ingest.plausibility.maxPastSeconds)`,
  },
  {
    name: 'maxFutureSeconds',
    breaks: (s, r, nowMs) => r.maxFutureSeconds > 0 && s.timestamp.getTime() > nowMs + r.maxFutureSeconds * 1000,
    reason: (s, r, now) => `timestamp: ${s.timestamp.toISOString()} is more than ${r.maxFutureSeconds} s after arrival (${now.toISOString()}; ingest.plausibility.maxFutureSeconds)`,
  },
]);

const NO_PROBLEMS: readonly string[] = Object.freeze([]);

/** Every rule of `PLAUSIBILITY_RULES` that `sample` breaks at arrival time `now` (empty when plausible; an empty answer is shared and frozen). */
export function plausibilityProblems(sample: Sample, rules: PlausibilityRules, now: Date): readonly string[] {
  const nowMs = now.getTime();
  let problems: string[] | undefined;
  for (const rule of PLAUSIBILITY_RULES) {
    // the usual sample breaks no rule: no list, no string
    if (rule.breaks(sample, rules, nowMs)) (problems ??= []).push(rule.reason(sample, rules, now));
  }
  return problems ?? NO_PROBLEMS;
}
