/**
 * `metering agent top`: the hosts' own series (GET /v1/hosts/series) as a live terminal table with
 * sparklines. Pure rendering here; the CLI fetches and redraws.
 */

const BARS = '▁▂▃▄▅▆▇█';

/** The last `width` values as a sparkline scaled to their own min..max (flat series sit on the bottom bar). */
export function sparkline(values: readonly number[], width = 40): string {
  const xs = values.slice(-width);
  if (xs.length === 0) return '';
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  return xs.map((v) => BARS[max === min ? 0 : Math.min(BARS.length - 1, Math.floor(((v - min) / (max - min)) * BARS.length))]).join('');
}

export interface SeriesRow {
  host: string;
  status: string;
  points: Array<{ t: string; v: number }>;
  error?: string;
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : Math.abs(v) >= 1000 ? v.toExponential(2) : v.toFixed(2));

/** The table: host, status, points, last, min, avg, max, sparkline (or the error). */
export function renderTop(meter: string, rows: readonly SeriesRow[], width = 40, now = new Date()): string {
  const header = ['host', 'status', 'points', 'last', 'min', 'avg', 'max'];
  const body = rows.map((r) => {
    const vs = r.points.map((p) => p.v);
    const avg = vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : undefined;
    return {
      cells: [r.host, r.status, String(vs.length), fmt(vs.at(-1)), fmt(vs.length ? Math.min(...vs) : undefined), fmt(avg), fmt(vs.length ? Math.max(...vs) : undefined)],
      tail: r.status === 'ok' ? sparkline(vs, width) : (r.error ?? ''),
    };
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b.cells[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`${meter} — hosts' own raw points (${now.toISOString()})`, `${line(header)}  trend`, ...body.map((b) => `${line(b.cells)}  ${b.tail}`)].join('\n') + '\n';
}
