import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { evaluate } from './rules';

/** Cores used per licence at evenly spaced instants: the "cores used vs licensed over time" chart. */
export interface CoresSeries {
  points: Date[];
  /** Per licence (file order): licensed cores and cores used at each point. */
  licenses: Array<{ id: string; cores: number; cores_used: number[] }>;
}

/** `n` instants ending at `at`, `stepS` apart (oldest first). */
export function seriesPoints(at: Date, spanS: number, n: number): Date[] {
  const count = Math.max(1, Math.floor(n));
  const step = count > 1 ? (spanS * 1000) / (count - 1) : 0;
  return Array.from({ length: count }, (_, i) => new Date(at.getTime() - (count - 1 - i) * step));
}

/**
 * Feeds samples in timestamp order and evaluates the rules at each point as the stream passes it
 * (one pass, one FactIndex, inactive instances pruned as it goes). The samples must be sorted by
 * timestamp ascending and start at least one active window before the first point.
 */
export class CoresSeriesBuilder {
  private readonly index = new FactIndex();
  private next = 0;
  private readonly used: number[][];

  constructor(
    private readonly licenses: readonly License[],
    private readonly points: Date[],
    private readonly activeWindowS: number,
  ) {
    this.used = licenses.map(() => []);
  }

  add(s: FactSample): void {
    while (this.next < this.points.length && this.points[this.next]!.getTime() < s.timestamp.getTime()) this.take();
    this.index.observe(s);
  }

  finish(): CoresSeries {
    while (this.next < this.points.length) this.take();
    return { points: this.points, licenses: this.licenses.map((l, i) => ({ id: l.id, cores: l.cores, cores_used: this.used[i]! })) };
  }

  private take(): void {
    const at = this.points[this.next++]!;
    const e = evaluate(this.licenses, this.index, { at, activeWindowS: this.activeWindowS });
    e.licenses.forEach((l, i) => this.used[i]!.push(l.cores_used));
    this.index.prune(new Date(at.getTime() - this.activeWindowS * 1000));
  }
}
