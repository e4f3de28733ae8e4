import { Empty, html, Panel, useConsole, usePoll } from '../lib';
import { formatTime } from '../units';

type Row = Record<string, unknown>;

/** The first list in an answer (`{violations: [...]}`, `{alerts: [...]}` or a bare list). */
const listOf = (x: unknown): Row[] => (Array.isArray(x) ? (x as Row[]) : x && typeof x === 'object' ? ((Object.values(x).find(Array.isArray) as Row[] | undefined) ?? []) : []);

const cell = (v: unknown): string => (v === null || v === undefined ? '–' : typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? formatTime(v) : typeof v === 'object' ? JSON.stringify(v) : String(v));

function Table(props: { title: string; rows: Row[] }) {
  const cols = [...new Set(props.rows.slice(0, 50).flatMap((r) => Object.keys(r)))].filter((c) => c !== '_id').slice(0, 7);
  return html`<div><h3>${props.title}</h3>${props.rows.length
    ? html`<div class="table-wrap"><table><thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
        <tbody>${props.rows.slice(0, 50).map((r) => html`<tr>${cols.map((c) => html`<td>${cell(r[c])}</td>`)}</tr>`)}</tbody></table></div>`
    : html`<${Empty}>None.<//>`}</div>`;
}

/**
 * Licence compliance, when the deployment has that capability (/v1/compliance/*); when its routes
 * answer 404 the panel says so instead of failing.
 */
export function CompliancePanel() {
  const { api } = useConsole();
  const poll = usePoll(async () => {
    const [violations, alerts] = await Promise.all([api.optional<unknown>('/v1/compliance/violations'), api.optional<unknown>('/v1/compliance/alerts')]);
    return { present: violations !== undefined || alerts !== undefined, violations: listOf(violations), alerts: listOf(alerts) };
  });
  const d = poll.data;
  return html`<${Panel} name="compliance" title="Licence compliance" poll=${poll}>
    ${d && !d.present ? html`<${Empty}><span data-testid="compliance-empty">Licence compliance is not part of this deployment: the controller has no /v1/compliance routes.</span><//>` : null}
    ${d && d.present ? html`<div class="grid2"><${Table} title="Violations" rows=${d.violations} /><${Table} title="Alerts" rows=${d.alerts} /></div>` : null}
  <//>`;
}
