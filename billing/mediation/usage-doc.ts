import type { Granularity } from './periods';

/** Deterministic key of a mediated usage document: re-running a period replaces the same docs. */
export interface UsageKey {
  g: Granularity;
  tz: string;
  start: Date;
  r: string;
  m: string;
  p: string | null;
  u: string | null;
  /** The mediation run that wrote the document (see runs.ts); absent in the pure reference. */
  run?: string;
}

/** An exact decimal: a string (in-Node mediation) or a BSON Decimal128 (the pipeline's $toDecimal sums). */
export type ExactDecimal = string | { toString(): string };

/**
 * Exact counterparts of the float statistics the bill is made of: sums of the samples' decimal values
 * (integers exactly, other values at the 15 significant digits MongoDB's $toDecimal keeps), the
 * reset-aware increase, and the time-weighted value (Σ value × ms ÷ 3,600,000 at 34+ digits).
 */
export interface ExactUsage {
  sum: ExactDecimal;
  delta: ExactDecimal | null;
  time_weighted: ExactDecimal | null;
}

/**
 * One mediated usage document (collection `usage`): a resource's meter in one period, attributed
 * to the project and user of its samples.
 */
export interface UsageDoc {
  _id: UsageKey;
  granularity: Granularity;
  timezone: string;
  period_start: Date;
  period_end: Date;
  resource_id: string;
  project_id: string | null;
  user_id: string | null;
  meter: string;
  unit: string;
  counter_type: string;
  /** Samples whose timestamp lies in the period. */
  count: number;
  sum: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  first_timestamp: Date | null;
  last_timestamp: Date | null;
  /** Seconds between the first and last sample in the period. */
  duration: number | null;
  /** Gauges: ∫ volume dt over the period in unit-hours (instance-hours, GB-hours); null otherwise. */
  time_weighted: number | null;
  /** Cumulative counters: increase within the period, counter resets handled; null otherwise. */
  delta: number | null;
  /** Cumulative counters: resets (value below the previous one) seen in the period. */
  resets: number;
  mediated_at: Date;
  /** Exact quantities (billable.ts bills these; the float fields stay for statistics and charts). */
  exact?: ExactUsage;
  /** The mediation run that wrote the document (runs.ts). */
  run?: string;
}

/** Field order of the key matters for MongoDB document equality; build keys only here. */
export function usageKey(g: Granularity, tz: string, start: Date, r: string, m: string, p: string | null, u: string | null, run?: string): UsageKey {
  return run === undefined ? { g, tz, start, r, m, p, u } : { g, tz, start, r, m, p, u, run };
}
