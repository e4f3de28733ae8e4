import { linearRegression } from 'simple-statistics';
import { formatNumber } from '../../lib/plot';
import { Dec } from '../rating/money';
import type { UsageRecord } from '../rating/usage';

/** One project's meter over time. */
export interface TrendSeries {
  project_id: string;
  meter: string;
  unit: string;
  points: { period_start: string; quantity: string }[];
  total: string;
  /** Change of the last period against the one before, in percent; null without two periods or from zero. */
  last_change_pct: number | null;
  /** Least-squares slope in units per period (a rough growth rate). */
  slope_per_period: number | null;
}

export interface UsageTrendReport {
  generated_at: string;
  periods: string[];
  series: TrendSeries[];
}

/** Usage trends per project and meter: quantities per period (missing periods count as 0). */
export function usageTrends(usage: readonly UsageRecord[], generatedAt = new Date()): UsageTrendReport {
  const periods = [...new Set(usage.map((u) => u.period_start.toISOString()))].sort();
  const by = new Map<string, { project_id: string; meter: string; unit: string; q: Map<string, InstanceType<typeof Dec>> }>();
  for (const u of usage) {
    const key = JSON.stringify([u.project_id, u.meter, u.unit ?? '']);
    let s = by.get(key);
    if (!s) by.set(key, (s = { project_id: u.project_id, meter: u.meter, unit: u.unit ?? '', q: new Map() }));
    const p = u.period_start.toISOString();
    s.q.set(p, (s.q.get(p) ?? new Dec(0)).plus(u.quantity));
  }
  const series = [...by.values()]
    .sort((a, b) => (a.project_id + '\0' + a.meter + '\0' + a.unit < b.project_id + '\0' + b.meter + '\0' + b.unit ? -1 : 1))
    .map((s): TrendSeries => {
      const qs = periods.map((p) => s.q.get(p) ?? new Dec(0));
      const last = qs[qs.length - 1];
      const prev = qs[qs.length - 2];
      return {
        project_id: s.project_id,
        meter: s.meter,
        unit: s.unit,
        points: periods.map((p, i) => ({ period_start: p, quantity: qs[i]!.toFixed() })),
        total: qs.reduce((a, b) => a.plus(b), new Dec(0)).toFixed(),
        last_change_pct: last && prev && !prev.isZero() ? Number(last.minus(prev).div(prev).times(100).toFixed(2)) : null,
        slope_per_period: qs.length >= 2 ? Number(linearRegression(qs.map((q, i) => [i, q.toNumber()])).m.toPrecision(6)) : null,
      };
    });
  return { generated_at: generatedAt.toISOString(), periods, series };
}

const csvCell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** One row per project, meter and period. */
export function trendsToCsv(r: UsageTrendReport): string {
  const rows = [['project_id', 'meter', 'unit', 'period_start', 'quantity']];
  for (const s of r.series) for (const p of s.points) rows.push([s.project_id, s.meter, s.unit, p.period_start, p.quantity]);
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** An inline SVG line chart of one series (no scripts, no external resources). */
export function seriesSvg(s: TrendSeries, width = 560, height = 200): string {
  const pad = { l: 56, r: 40, t: 12, b: 36 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const ys = s.points.map((p) => Number(p.quantity));
  const max = Math.max(...ys, 0) || 1;
  const x = (i: number) => pad.l + (s.points.length <= 1 ? w / 2 : (i * w) / (s.points.length - 1));
  const y = (v: number) => pad.t + h - (v / max) * h;
  const pts = ys.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const grid = [0, 0.5, 1].map((f) => {
    const gy = pad.t + h - f * h;
    return `<line x1="${pad.l}" x2="${pad.l + w}" y1="${gy}" y2="${gy}" stroke="#ddd"/><text x="${pad.l - 6}" y="${gy + 4}" text-anchor="end" font-size="11">${esc(formatNumber(f * max))}</text>`;
  });
  const step = Math.max(1, Math.ceil(s.points.length / 6));
  const labels = s.points
    .map((p, i) => (i % step === 0 || i === s.points.length - 1 ? `<text x="${x(i).toFixed(1)}" y="${pad.t + h + 18}" text-anchor="${i === s.points.length - 1 && i > 0 ? 'end' : i === 0 ? 'start' : 'middle'}" font-size="11">${esc(p.period_start.slice(0, 10))}</text>` : ''))
    .join('');
  const dots = ys.map((v, i) => `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="#2b6cb0"><title>${esc(s.points[i]!.period_start)}: ${esc(s.points[i]!.quantity)} ${esc(s.unit)}</title></circle>`).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(`${s.project_id} ${s.meter}`)}">` +
    grid.join('') +
    `<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="${pts}"/>${dots}${labels}</svg>`
  );
}

/** A self-contained HTML page: per project and meter a chart and a table. */
export function trendsToHtml(r: UsageTrendReport, title = 'Usage trends'): string {
  const sections = r.series.map((s) => {
    const rows = s.points.map((p) => `<tr><td>${esc(p.period_start)}</td><td class="n">${esc(p.quantity)}</td></tr>`).join('');
    const change = s.last_change_pct === null ? '' : `, last period ${s.last_change_pct >= 0 ? '+' : ''}${s.last_change_pct}%`;
    return `<section><h2>${esc(s.project_id)} · ${esc(s.meter)}${s.unit ? ` (${esc(s.unit)})` : ''}</h2>
<p>total ${esc(s.total)}${esc(change)}</p>
${seriesSvg(s)}
<details><summary>data</summary><table><tr><th>period</th><th>quantity</th></tr>${rows}</table></details></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}section{margin-bottom:2em}h2{font-size:1.1em;margin-bottom:.2em}p{margin:.2em 0 .6em;color:#555}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee}.n{text-align:right}</style>
</head><body><h1>${esc(title)}</h1><p>${r.series.length} series over ${r.periods.length} periods, generated ${esc(r.generated_at)}</p>
${sections.join('\n') || '<p>no usage</p>'}
</body></html>
`;
}
