/**
 * Time-window series over stored samples (pure part): the window and step a request may ask for, and
 * turning per-bucket aggregates of one resource's meter into the values a graph shows. Gauges show
 * the bucket's average (and max); cumulative counters show their rate per second between the last
 * values of consecutive buckets (a counter that went down was reset: no value for that bucket).
 */

export const WINDOWS = { '15m': 15 * 60, '1h': 3600, '6h': 6 * 3600, '24h': 24 * 3600, '7d': 7 * 86400 } as const;
/** Steps a series may be cut in, seconds. */
export const STEPS = [10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400];
/** Points per series at most (the step is raised until the window fits). */
export const MAX_POINTS = 1000;
/** The longest window one request may cover (a planner looks at weeks, not years). */
export const MAX_WINDOW_S = 93 * 86400;

export class SeriesInputError extends Error {}

/** The step for a window: the one asked for if it gives at most MAX_POINTS, else the smallest that does (about 200 points when none is asked). */
export function chooseStep(windowS: number, asked?: number): number {
  if (asked !== undefined) {
    if (!Number.isFinite(asked) || asked <= 0) throw new SeriesInputError(`step: expected seconds > 0, got ${asked}`);
    if (windowS / asked <= MAX_POINTS) return asked;
    throw new SeriesInputError(`step: ${asked} s gives ${Math.ceil(windowS / asked)} points over the window; at most ${MAX_POINTS} (use a step of at least ${Math.ceil(windowS / MAX_POINTS)} s)`);
  }
  return STEPS.find((s) => windowS / s <= 200) ?? STEPS[STEPS.length - 1]!;
}

export interface BucketAggregate {
  /** bucket start, ms since epoch */
  t: number;
  avg: number;
  max: number;
  min: number;
  n: number;
  last_v: number;
  last_t: number;
}

export interface SeriesPoint {
  t: number;
  /** What the graph shows: average (gauge) or rate per second (cumulative); null = no value. */
  value: number | null;
  max: number | null;
  samples: number;
}

export function seriesPoints(kind: 'gauge' | 'delta' | 'cumulative', buckets: readonly BucketAggregate[]): SeriesPoint[] {
  const sorted = [...buckets].sort((a, b) => a.t - b.t);
  if (kind !== 'cumulative') return sorted.map((b) => ({ t: b.t, value: b.avg, max: b.max, samples: b.n }));
  const out: SeriesPoint[] = [];
  let prev: BucketAggregate | undefined;
  for (const b of sorted) {
    let value: number | null = null;
    if (prev && b.last_t > prev.last_t && b.last_v >= prev.last_v) value = (b.last_v - prev.last_v) / ((b.last_t - prev.last_t) / 1000);
    out.push({ t: b.t, value, max: value, samples: b.n });
    prev = b;
  }
  return out;
}

/** Unit of what the graph shows: a cumulative counter's rate is per second. */
export const shownUnit = (kind: string, unit: string): string => (kind === 'cumulative' ? `${unit}/s` : unit);
