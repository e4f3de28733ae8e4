import { median as ssMedian } from 'simple-statistics';

/** Median; NaN for no values (serialises as null: "not measured", never a misleading 0). */
export function median(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : ssMedian([...xs]);
}

/** Nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
