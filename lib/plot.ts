import * as asciichart from 'asciichart';

/**
 * Plots for results people would rather see than read: standalone SVG (written next to reports,
 * embeddable in HTML) and terminal charts. No browser, canvas or CDN needed.
 */

export interface Point {
  x: number | Date;
  y: number;
}
export interface Series {
  name: string;
  points: Point[];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number | Date) => (v instanceof Date ? v.getTime() : v);

/** Round numbers for axis ticks: 1, 2, 5 × 10^k. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0];
  if (min === max) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  // from the step at or below min to the step at or above max, so the axis covers all the data
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(4)}`;
}

interface Frame {
  width: number;
  height: number;
  title: string;
  xLabel?: string;
  yLabel?: string;
}
const M = { top: 40, right: 150, bottom: 50, left: 70 };
/** Right margin wide enough for the legend's longest label (about 7 px per character at 12 px). */
const rightMargin = (names: string[]) => Math.max(M.right, 40 + 7 * Math.max(0, ...names.map((n) => n.length)));

function frame(f: Frame, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${f.width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(f.title)}</text>
${f.xLabel ? `<text x="${(M.left + f.width - M.right) / 2}" y="${f.height - 10}" text-anchor="middle">${esc(f.xLabel)}</text>` : ''}
${f.yLabel ? `<text transform="translate(16 ${(M.top + f.height - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(f.yLabel)}</text>` : ''}
${body}
</svg>
`;
}

function yAxis(ticks: number[], y: (v: number) => number, x0: number, x1: number): string {
  return ticks
    .map((t) => `<line x1="${x0}" x2="${x1}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="${x0 - 6}" y="${y(t) + 4}" text-anchor="end">${formatNumber(t)}</text>`)
    .join('\n');
}

function legend(names: string[], x: number): string {
  return names
    .map((n, i) => `<rect x="${x}" y="${M.top + i * 18}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 18}" y="${M.top + i * 18 + 10}">${esc(n)}</text>`)
    .join('\n');
}

/** Line chart of one or more series over a numeric or time x axis. */
export function lineChartSvg(opts: Frame & { series: Series[] }): string {
  const { width, height } = opts;
  const right = rightMargin(opts.series.map((s) => s.name));
  const pts = opts.series.flatMap((s) => s.points);
  const xs = pts.map((p) => num(p.x));
  const ys = pts.map((p) => p.y);
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs)];
  const yTicks = niceTicks(Math.min(0, ...ys), Math.max(...ys, 1e-9));
  const [ymin, ymax] = [yTicks[0]!, Math.max(yTicks[yTicks.length - 1]!, ...ys)];
  const x = (v: number) => M.left + ((v - xmin) / (xmax - xmin || 1)) * (width - M.left - right);
  const y = (v: number) => height - M.bottom - ((v - ymin) / (ymax - ymin || 1)) * (height - M.top - M.bottom);
  const isTime = pts.some((p) => p.x instanceof Date);
  const xTicks = niceTicks(xmin, xmax, 6);
  const xLabels = isTime
    ? [xmin, (xmin + xmax) / 2, xmax].map((t) => `<text x="${x(t)}" y="${height - M.bottom + 16}" text-anchor="middle">${new Date(t).toISOString().slice(0, 16).replace('T', ' ')}</text>`).join('\n')
    : xTicks.map((t) => `<text x="${x(t)}" y="${height - M.bottom + 16}" text-anchor="middle">${formatNumber(t)}</text>`).join('\n');
  const lines = opts.series
    .map((s, i) => {
      const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(num(p.x)).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.6"/>`;
    })
    .join('\n');
  const axes = `${yAxis(yTicks, y, M.left, width - right)}\n<line x1="${M.left}" x2="${width - right}" y1="${height - M.bottom}" y2="${height - M.bottom}" stroke="#333"/>\n${xLabels}`;
  return frame(opts, `${axes}\n${lines}\n${legend(opts.series.map((s) => s.name), width - right + 12)}`);
}

/** Grouped bar chart: one group per category, one bar per series (e.g. estimate vs actual). */
export function barChartSvg(opts: Frame & { categories: string[]; series: Array<{ name: string; values: number[] }> }): string {
  const { width, height, categories, series } = opts;
  const right = rightMargin(series.map((s) => s.name));
  const all = series.flatMap((s) => s.values);
  const yTicks = niceTicks(0, Math.max(...all, 1e-9));
  const ymax = Math.max(yTicks[yTicks.length - 1]!, ...all);
  const y = (v: number) => height - M.bottom - (v / (ymax || 1)) * (height - M.top - M.bottom);
  const groupW = (width - M.left - right) / Math.max(categories.length, 1);
  const barW = (groupW * 0.8) / Math.max(series.length, 1);
  const bars = categories
    .map((c, ci) => {
      const gx = M.left + ci * groupW + groupW * 0.1;
      const rects = series
        .map((s, si) => {
          const v = s.values[ci] ?? 0;
          return `<rect x="${(gx + si * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(height - M.bottom - y(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${s.name} ${c}: ${v}`)}</title></rect>`;
        })
        .join('');
      return `${rects}<text x="${gx + groupW * 0.4}" y="${height - M.bottom + 16}" text-anchor="middle">${esc(c)}</text>`;
    })
    .join('\n');
  return frame(opts, `${yAxis(yTicks, y, M.left, width - right)}\n${bars}\n${legend(series.map((s) => s.name), width - right + 12)}`);
}

/** Horizontal text bars for terminals, e.g. data size per shard. */
export function textBars(rows: Array<{ label: string; value: number; note?: string }>, width = 40): string {
  const max = Math.max(...rows.map((r) => r.value), 0);
  const labelW = Math.max(...rows.map((r) => r.label.length), 0);
  return rows
    .map((r) => {
      const n = max > 0 ? Math.round((r.value / max) * width) : 0;
      return `${r.label.padEnd(labelW)} ${'█'.repeat(n)}${' '.repeat(width - n)} ${r.note ?? formatNumber(r.value)}`;
    })
    .join('\n');
}

/** A terminal line chart of one or more equally spaced series. */
export function textLineChart(series: number[][], height = 10): string {
  const nonEmpty = series.filter((s) => s.length > 0);
  return nonEmpty.length ? asciichart.plot(nonEmpty, { height }) : '(no data)';
}
