/**
 * Time compression for a replay: trace time advances `speedup` times faster than the wall clock.
 * Pure arithmetic; the replayer sleeps until `dueAt`.
 */

/** `0`, `max` or `inf` → 0 (as fast as possible); otherwise a positive factor. */
export function parseSpeedup(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'max' || t === 'inf' || t === '0') return 0;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`--speedup: expected a positive number, 0 or max, got ${JSON.stringify(text)}`);
  return n;
}

export class Pacer {
  private traceStartS: number | undefined;
  private wallStartMs = 0;

  constructor(
    /** Trace seconds per wall second; 0 = no pacing. */
    readonly speedup: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Wall-clock time (ms, on `now`'s scale) at which a row of trace time `traceS` is due; the first row anchors the clock. */
  dueAt(traceS: number): number {
    if (this.speedup === 0) return 0;
    if (this.traceStartS === undefined) {
      this.traceStartS = traceS;
      this.wallStartMs = this.now();
    }
    return this.wallStartMs + ((traceS - this.traceStartS) / this.speedup) * 1000;
  }

  /** Milliseconds to wait before sending a row of trace time `traceS` (0 when due or pacing is off). */
  waitMs(traceS: number): number {
    if (this.speedup === 0) return 0;
    return Math.max(0, this.dueAt(traceS) - this.now());
  }
}
