import { useState } from 'preact/hooks';
import { TimeChart } from '../chart';
import { Empty, html, Panel, useConsole, usePoll } from '../lib';
import { axisUnit, readable } from '../units';

interface Trend {
  project_id: string;
  meter: string;
  unit: string;
  points: Array<{ period_start: string; quantity: string }>;
  total: string;
  last_change_pct: number | null;
}

export function UsagePanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<{ periods: string[]; series: Trend[] }>('/v1/reports/usage?format=json'));
  const series = poll.data?.series ?? [];
  const projects = [...new Set(series.map((s) => s.project_id))].sort();
  const [project, setProject] = useState<string | undefined>();
  const p = project ?? projects[0];
  const mine = series.filter((s) => s.project_id === p);
  const [meter, setMeter] = useState<string | undefined>();
  const m = mine.find((s) => s.meter === meter) ?? mine[0];
  const { factor, label } = axisUnit(m?.unit ?? '');
  return html`<${Panel} name="usage" title="Usage per project and meter" poll=${poll}>
    ${series.length
      ? html`<form class="controls" onSubmit=${(e: Event) => e.preventDefault()}>
          <label>Project <select value=${p} onChange=${(e: Event) => setProject((e.target as HTMLSelectElement).value)}>${projects.map((x) => html`<option value=${x}>${x}</option>`)}</select></label>
          <label>Meter <select value=${m?.meter} onChange=${(e: Event) => setMeter((e.target as HTMLSelectElement).value)}>${mine.map((s) => html`<option value=${s.meter}>${s.meter}</option>`)}</select></label>
        </form>
        ${m
          ? html`<${TimeChart} title=${`${m.meter} per period (${label || m.unit})`} times=${m.points.map((pt) => Date.parse(pt.period_start))} series=${[{ label: m.meter, values: m.points.map((pt) => Number(pt.quantity) * factor) }]} format=${(v: number) => readable(v / factor, m.unit)} height=${200} yLabel=${label} />`
          : null}
        <div class="table-wrap"><table><thead><tr><th scope="col">meter</th><th scope="col">total</th><th scope="col">last period</th><th scope="col">change</th></tr></thead>
          <tbody>${mine.map((s) => html`<tr><th scope="row">${s.meter}</th><td class="num">${readable(Number(s.total), s.unit)}</td><td class="num">${readable(Number(s.points[s.points.length - 1]?.quantity), s.unit)}</td><td class="num">${s.last_change_pct === null ? '–' : `${s.last_change_pct > 0 ? '+' : ''}${s.last_change_pct.toFixed(1)} %`}</td></tr>`)}</tbody>
        </table></div>`
      : html`<${Empty}>No mediated usage yet: run mediation (POST /v1/jobs/mediation).<//>`}
  <//>`;
}
