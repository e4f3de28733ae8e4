/**
 * Counts per fixed time bucket over a sliding history (pure; the caller passes the clock): per
 * transport samples accepted, for rates ("samples/s over the last minute") and a short history chart.
 */
export class RateHistory {
  private readonly counts: Float64Array;
  /** Index of the bucket `latest` (ms since epoch / bucketMs). */
  private latest = -1;

  constructor(
    readonly bucketMs: number,
    readonly buckets: number,
  ) {
    if (!(bucketMs > 0) || !Number.isInteger(buckets) || buckets < 1) throw new RangeError('RateHistory: bucketMs > 0 and buckets ≥ 1 expected');
    this.counts = new Float64Array(buckets);
  }

  private advance(now: number): number {
    const b = Math.floor(now / this.bucketMs);
    if (this.latest < 0) this.latest = b;
    if (b > this.latest) {
      // clear the buckets skipped over (at most the whole ring)
      for (let i = this.latest + 1; i <= Math.min(b, this.latest + this.buckets); i++) this.counts[i % this.buckets] = 0;
      this.latest = b;
    }
    return b;
  }

  add(now: number, n: number): void {
    const b = this.advance(now);
    if (b <= this.latest - this.buckets) return; // older than the history (clock went back far)
    this.counts[b % this.buckets]! += n;
  }

  /** Per-second rate over the last `seconds` (complete buckets plus the running one, pro rata). */
  rate(now: number, seconds: number): number {
    const b = this.advance(now);
    const whole = Math.max(1, Math.min(this.buckets - 1, Math.round((seconds * 1000) / this.bucketMs)));
    let sum = 0;
    for (let i = b - whole; i <= b; i++) sum += this.counts[((i % this.buckets) + this.buckets) % this.buckets]!;
    const elapsed = whole * this.bucketMs + (now - b * this.bucketMs);
    return sum / (elapsed / 1000);
  }

  /** The history, oldest first: bucket start (ms) and per-second rate within it. */
  series(now: number): Array<{ t: number; rate: number }> {
    const b = this.advance(now);
    const out: Array<{ t: number; rate: number }> = [];
    for (let i = b - this.buckets + 1; i <= b; i++) {
      const span = i === b ? Math.max(1, now - b * this.bucketMs) : this.bucketMs;
      out.push({ t: i * this.bucketMs, rate: this.counts[((i % this.buckets) + this.buckets) % this.buckets]! / (span / 1000) });
    }
    return out;
  }
}

/** Estimated quantile from cumulative histogram buckets (Prometheus `histogram_quantile`), or null when empty. */
export function quantileFromBuckets(q: number, buckets: ReadonlyArray<{ le: number; count: number }>): number | null {
  const total = buckets.length ? buckets[buckets.length - 1]!.count : 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe; // in the +Inf bucket: the highest finite bound is all we know
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
