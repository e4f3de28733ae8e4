import { useState } from 'preact/hooks';
import { Empty, html, Panel, Stat, useConsole, usePoll } from '../lib';
import { formatBytes, formatCount, formatPct, formatTime } from '../units';

interface Prediction {
  prediction_id: string;
  stack_id: string;
  stack_name?: string;
  project_id: string;
  created_at: string;
  events_per_day: number;
  bytes_per_day: number;
  bytes_per_month: number;
}
interface Quantity {
  estimated: number;
  actual: number;
  difference: number;
  accuracy: number | null;
}
interface Compare {
  period: string;
  window: { start: string; end: string; compared_until: string; complete: boolean };
  events: Quantity;
  bytes: Quantity;
  meters: Array<{ meter: string } & Quantity>;
}

function Comparison(props: { id: string }) {
  const { api } = useConsole();
  const [period, setPeriod] = useState('day');
  const poll = usePoll(() => api.get<Compare>(`/v1/predictions/${encodeURIComponent(props.id)}/compare?period=${period}`), [props.id, period]);
  const c = poll.data;
  return html`<div class="compare">
    <label>Compare over <select value=${period} onChange=${(e: Event) => setPeriod((e.target as HTMLSelectElement).value)}><option value="day">a day</option><option value="week">a week</option><option value="month">a month</option></select></label>
    ${poll.error ? html`<p class="error" role="alert">${poll.error}</p>` : null}
    ${c
      ? html`<div class="stats">
          <${Stat} label="events: estimate vs actual" value=${`${formatCount(c.events.estimated)} vs ${formatCount(c.events.actual)}`} note=${`accuracy ${formatPct(c.events.accuracy === null ? null : c.events.accuracy * 100, 2)}`} />
          <${Stat} label="bytes: estimate vs actual" value=${`${formatBytes(c.bytes.estimated)} vs ${formatBytes(c.bytes.actual)}`} note=${`accuracy ${formatPct(c.bytes.accuracy === null ? null : c.bytes.accuracy * 100, 2)}`} />
          <${Stat} label="window" value=${c.window.complete ? 'complete' : 'still running'} note=${`${formatTime(c.window.start)} → ${formatTime(c.window.end)}; compared until ${formatTime(c.window.compared_until)}`} />
        </div>
        <div class="table-wrap"><table><caption class="sr-only">events per meter, estimate vs actual</caption>
          <thead><tr><th scope="col">meter</th><th scope="col" class="num">estimated events</th><th scope="col" class="num">actual events</th><th scope="col" class="num">accuracy</th></tr></thead>
          <tbody>${c.meters.map((m) => html`<tr><th scope="row">${m.meter}</th><td class="num">${formatCount(m.estimated)}</td><td class="num">${formatCount(m.actual)}</td><td class="num">${formatPct(m.accuracy === null ? null : m.accuracy * 100, 2)}</td></tr>`)}</tbody>
        </table></div>`
      : null}
  </div>`;
}

export function PredictionsPanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<{ predictions: Prediction[]; total: number }>('/v1/predictions?limit=50'));
  const [chosen, setChosen] = useState<string | undefined>();
  const list = poll.data?.predictions ?? [];
  const id = chosen ?? list[0]?.prediction_id;
  return html`<${Panel} name="predictions" title="Onboarding predictions" poll=${poll}>
    ${list.length
      ? html`<div class="table-wrap"><table><thead><tr><th scope="col">stack</th><th scope="col">project</th><th scope="col">created</th><th scope="col">events/day</th><th scope="col">data/day</th><th scope="col">data/month</th><th scope="col"><span class="sr-only">compare</span></th></tr></thead>
          <tbody>${list.map(
            (p) => html`<tr aria-selected=${p.prediction_id === id}>
              <th scope="row">${p.stack_name ?? p.stack_id}</th><td>${p.project_id}</td><td>${formatTime(p.created_at)}</td>
              <td class="num">${formatCount(p.events_per_day)}</td><td class="num">${formatBytes(p.bytes_per_day)}</td><td class="num">${formatBytes(p.bytes_per_month)}</td>
              <td><button type="button" class="link" onClick=${() => setChosen(p.prediction_id)} aria-pressed=${p.prediction_id === id}>estimate vs actual</button></td>
            </tr>`,
          )}</tbody></table></div>
          ${id ? html`<${Comparison} id=${id} />` : null}`
      : html`<${Empty}>No predictions yet: Heat stacks are onboarded through POST /v1/onboarding/heat.<//>`}
  <//>`;
}
