/**
 * Client-side window aggregation (pure): polls go in, one closed window per metric per window length
 * comes out with {start, end, count, min, max, avg, last}. Windows are aligned to multiples of the
 * window length since the epoch, [start, end), so every agent's windows line up and a window is the
 * same whichever process computes it (a restarted agent recomputes it from its local raw store).
 */
import type { Poll } from './metrics';

export interface WindowSummary {
  /** The metric (metricKey: meter name and resource id). */
  key: string;
  /** Window bounds, ms since the epoch: [start, end). */
  start: number;
  end: number;
  count: number;
  min: number;
  max: number;
  avg: number;
  /** The value of the latest poll in the window. */
  last: number;
}

interface Open {
  count: number;
  min: number;
  max: number;
  sum: number;
  last: number;
  lastT: number;
}

export class WindowAggregator {
  private start: number | undefined;
  private readonly open = new Map<string, Open>();

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`window length must be a positive number of ms, got ${windowMs}`);
  }

  /** Start of the window that holds instant t. */
  windowOf(t: number): number {
    return Math.floor(t / this.windowMs) * this.windowMs;
  }

  /** Start of the window currently being filled (undefined before the first poll). */
  get openStart(): number | undefined {
    return this.start;
  }

  /**
   * Add one poll. Closes (and returns) the open window first when the poll belongs to a later one.
   * A poll older than the open window is refused with a RangeError (time went backwards).
   */
  add(poll: Poll): WindowSummary[] {
    const ws = this.windowOf(poll.t);
    if (this.start !== undefined && ws < this.start) throw new RangeError(`poll at ${new Date(poll.t).toISOString()} is before the open window ${new Date(this.start).toISOString()}`);
    const closed = this.start !== undefined && ws > this.start ? this.close() : [];
    this.start = ws;
    for (const [key, v] of poll.values) {
      if (!Number.isFinite(v)) continue;
      const o = this.open.get(key);
      if (!o) this.open.set(key, { count: 1, min: v, max: v, sum: v, last: v, lastT: poll.t });
      else {
        o.count++;
        if (v < o.min) o.min = v;
        if (v > o.max) o.max = v;
        o.sum += v;
        if (poll.t >= o.lastT) {
          o.last = v;
          o.lastT = poll.t;
        }
      }
    }
    return closed;
  }

  /** Close the open window if `now` is at or past its end (a timer at each boundary calls this). */
  closeUntil(now: number): WindowSummary[] {
    if (this.start === undefined || now < this.start + this.windowMs) return [];
    const closed = this.close();
    this.start = undefined;
    return closed;
  }

  private close(): WindowSummary[] {
    const start = this.start!;
    const out: WindowSummary[] = [];
    for (const [key, o] of this.open) out.push({ key, start, end: start + this.windowMs, count: o.count, min: o.min, max: o.max, avg: o.sum / o.count, last: o.last });
    this.open.clear();
    return out;
  }
}
