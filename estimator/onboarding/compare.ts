import type { Periods } from '../config';
import type { MeterEstimate } from '../estimate';
import { pollsIn } from '../generator';
import type { EstimateJson } from './store';

/**
 * Estimate vs actual, pure. Accuracy of an estimate e of an actual a is 1 − |e − a| / a (0 … 1;
 * 1 when both are 0, 0 when nothing was collected but something was predicted) — the paper's
 * "accuracy" of the predicted data size.
 */

export const PERIOD_NAMES = ['day', 'week', 'month'] as const;
export type PeriodName = (typeof PERIOD_NAMES)[number];

/** The configured period lengths (estimator.periods) by period name. */
export const periodSeconds = (p: Periods): Record<PeriodName, number> => ({ day: p.day_s, week: p.week_s, month: p.month_s });

export function accuracy(estimated: number, actual: number): number {
  if (actual === 0) return estimated === 0 ? 1 : 0;
  return Math.max(0, 1 - Math.abs(estimated - actual) / actual);
}

export interface Expected {
  events: number;
  bytes: number;
  /** meter → events */
  per_meter: Record<string, number>;
}

/**
 * What the estimate predicts for a window of `seconds` from the stack's first poll: Σ series ×
 * ⌈seconds / interval⌉ per meter (equal to the estimate's per_day/per_week/per_month for those
 * lengths), bytes by the estimate's size method.
 */
export function expectedFor(e: Pick<EstimateJson, 'meters' | 'size_method' | 'avg_event_bytes_mean_of_meters'>, seconds: number): Expected {
  const per_meter: Record<string, number> = {};
  let events = 0;
  let bytes = 0;
  for (const m of e.meters as MeterEstimate[]) {
    const n = seconds > 0 ? m.resources * pollsIn(seconds, m.interval_s) : 0;
    per_meter[m.name] = (per_meter[m.name] ?? 0) + n;
    events += n;
    bytes += n * m.bytes_per_event;
  }
  if (e.size_method === 'mean-of-meters') bytes = events * e.avg_event_bytes_mean_of_meters;
  return { events, bytes: Math.round(bytes), per_meter };
}

export interface Collected {
  events: number;
  bytes: number;
  per_meter: Record<string, number>;
  /** How `bytes` was measured. */
  bytes_method: string;
}

export interface QuantityComparison {
  estimated: number;
  actual: number;
  /** estimated − actual */
  difference: number;
  accuracy: number;
}

const cmp = (estimated: number, actual: number): QuantityComparison => ({ estimated, actual, difference: estimated - actual, accuracy: round6(accuracy(estimated, actual)) });

export interface Comparison {
  events: QuantityComparison;
  bytes: QuantityComparison;
  meters: Array<{ meter: string } & QuantityComparison>;
}

/** Per-quantity comparison: events, bytes, and events of every meter either side has. */
export function compare(expected: Expected, collected: Collected): Comparison {
  const names = [...new Set([...Object.keys(expected.per_meter), ...Object.keys(collected.per_meter)])].sort();
  return {
    events: cmp(expected.events, collected.events),
    bytes: cmp(expected.bytes, collected.bytes),
    meters: names.map((meter) => ({ meter, ...cmp(expected.per_meter[meter] ?? 0, collected.per_meter[meter] ?? 0) })),
  };
}

export const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
