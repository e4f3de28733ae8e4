/**
 * Aggregation over the hosts chosen in the profiles panel, done in the browser (pure; tested in
 * test/console/aggregate.test.ts): the series share one step, so points line up by time; at each
 * instant the aggregate is the sum, average or maximum of the hosts that have a value there.
 */
export type Aggregation = 'none' | 'sum' | 'avg' | 'max';

export interface HostSeries {
  label: string;
  points: ReadonlyArray<{ t: number; value: number | null }>;
}

/** The union of instants (sorted) and each series' value at each (null where it has none). */
export function alignSeries(series: readonly HostSeries[]): { times: number[]; values: Array<Array<number | null>> } {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = series.map((s) => {
    const row: Array<number | null> = new Array(times.length).fill(null);
    for (const p of s.points) row[index.get(p.t)!] = p.value;
    return row;
  });
  return { times, values };
}

export function aggregate(how: Exclude<Aggregation, 'none'>, values: ReadonlyArray<ReadonlyArray<number | null>>, length: number): Array<number | null> {
  const out: Array<number | null> = [];
  for (let i = 0; i < length; i++) {
    let n = 0;
    let sum = 0;
    let max = -Infinity;
    for (const row of values) {
      const v = row[i];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      n++;
      sum += v;
      if (v > max) max = v;
    }
    out.push(n === 0 ? null : how === 'sum' ? sum : how === 'avg' ? sum / n : max);
  }
  return out;
}
