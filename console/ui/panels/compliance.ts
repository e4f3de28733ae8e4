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

/** The list routes of the compliance capability this controller has (GET /v1/compliance/…, no path parameters). */
export function complianceRoutes(openapi: { paths?: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(openapi.paths ?? {})
    .filter(([p, ops]) => p.startsWith('/v1/compliance/') && !p.includes('{') && ops.get !== undefined)
    .map(([p]) => p)
    .sort();
}

/**
 * Licence compliance, when the deployment has that capability: its routes are found in the
 * controller's OpenAPI description (so a deployment without them shows an empty state and never asks
 * for a route that is not there), and each list route is shown as a table.
 */
export function CompliancePanel() {
  const { api } = useConsole();
  const poll = usePoll(async () => {
    const routes = complianceRoutes(await api.get<{ paths?: Record<string, Record<string, unknown>> }>('/openapi.json')).slice(0, 4);
    const answers = await Promise.all(routes.map(async (r) => ({ route: r, rows: listOf(await api.optional<unknown>(r)) })));
    return { routes: answers };
  });
  const d = poll.data;
  return html`<${Panel} name="compliance" title="Licence compliance" poll=${poll}>
    ${d && d.routes.length === 0 ? html`<${Empty}><span data-testid="compliance-empty">Licence compliance is not part of this deployment: the controller has no /v1/compliance routes.</span><//>` : null}
    ${d && d.routes.length ? html`<div class="grid2">${d.routes.map((r) => html`<${Table} title=${r.route.replace('/v1/compliance/', '')} rows=${r.rows} />`)}</div>` : null}
  <//>`;
}
