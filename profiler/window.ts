/**
 * A fixed-capacity sliding window over the last `capacity` numeric values with an O(1) running sum,
 * so the moving average (the paper's "current utilisation" estimate) costs O(1) per value and per read.
 *
 * Floating-point drift of the running sum is bounded by recomputing the sum from the buffer once every
 * `capacity` pushes (amortised O(1)); between recomputations the error is that of ≤ capacity additions.
 */
export class SlidingWindow {
  private readonly buf: Float64Array;
  /** Index the next value is written to. */
  private head = 0;
  private size = 0;
  private total = 0;
  private sinceResum = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`window capacity must be a positive integer, got ${capacity}`);
    }
    this.buf = new Float64Array(capacity);
  }

  /** Adds a value, evicting the oldest when full. Non-finite values are rejected (they would poison the sum). */
  push(value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`window value must be finite, got ${value}`);
    const cap = this.capacity;
    if (this.size === cap) this.total -= this.buf[this.head]!;
    else this.size++;
    this.buf[this.head] = value;
    this.total += value;
    this.head = this.head + 1 === cap ? 0 : this.head + 1;
    if (++this.sinceResum >= cap) this.resum();
  }

  /** Number of values currently held (≤ capacity). */
  get count(): number {
    return this.size;
  }

  get sum(): number {
    return this.total;
  }

  /** Moving average of the held values; NaN when empty. */
  get mean(): number {
    return this.size === 0 ? NaN : this.total / this.size;
  }

  /** Most recent value; NaN when empty. */
  get last(): number {
    if (this.size === 0) return NaN;
    return this.buf[(this.head - 1 + this.capacity) % this.capacity]!;
  }

  /** Held values, oldest first (O(n); for snapshots and tests, not the hot path). */
  values(): number[] {
    const out: number[] = new Array(this.size);
    const start = (this.head - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) out[i] = this.buf[(start + i) % this.capacity]!;
    return out;
  }

  /** Rebuilds a window from values (oldest first); keeps only the last `capacity` of them. */
  static from(capacity: number, values: readonly number[]): SlidingWindow {
    const w = new SlidingWindow(capacity);
    for (let i = Math.max(0, values.length - capacity); i < values.length; i++) w.push(values[i]!);
    return w;
  }

  private resum(): void {
    let s = 0;
    for (let i = 0; i < this.size; i++) s += this.buf[i]!;
    this.total = s;
    this.sinceResum = 0;
  }
}
