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

/** Whether this controller has the compliance capability (its OpenAPI description lists GET /v1/compliance). */
export function hasCompliance(openapi: { paths?: Record<string, Record<string, unknown>> }): boolean {
  return openapi.paths?.['/v1/compliance']?.get !== undefined;
}

interface Evaluation {
  evaluated: boolean;
  open_alerts: number;
  violations?: Row[];
  licenses?: Row[];
  unverified?: Row[];
}

/**
 * Licence compliance (compliance/), when the deployment has that capability (found in the controller's
 * OpenAPI description, so a deployment without it shows an empty state and never asks for a route that
 * is not there): the live rules' latest evaluation (GET /v1/compliance: violations, licences, unverified
 * instances) and the newest alerts (GET /v1/compliance/alerts), in the token's project scope.
 */
export function CompliancePanel() {
  const { api } = useConsole();
  const poll = usePoll(async () => {
    if (!hasCompliance(await api.get<{ paths?: Record<string, Record<string, unknown>> }>('/openapi.json'))) return { present: false as const };
    const [evaluation, alerts] = await Promise.all([api.optional<Evaluation>('/v1/compliance'), api.optional<{ open: number; alerts: Row[] }>('/v1/compliance/alerts?limit=20')]);
    return { present: true as const, evaluation, alerts: alerts?.alerts ?? [] };
  });
  const d = poll.data;
  return html`<${Panel} name="compliance" title="Licence compliance" poll=${poll}>
    ${d && !d.present ? html`<${Empty}><span data-testid="compliance-empty">Licence compliance is not part of this deployment: the controller has no /v1/compliance routes.</span><//>` : null}
    ${d && d.present
      ? html`<p data-testid="compliance-summary">${d.evaluation?.evaluated ? 'evaluated on the live sample stream' : 'not evaluated yet (no licences or no samples)'}; open alerts ${d.evaluation?.open_alerts ?? 0}</p>
        <div class="grid2">
          <${Table} title="violations" rows=${listOf(d.evaluation?.violations)} />
          <${Table} title="alerts" rows=${d.alerts} />
          <${Table} title="licences" rows=${listOf(d.evaluation?.licenses)} />
          <${Table} title="unverified instances" rows=${listOf(d.evaluation?.unverified)} />
        </div>`
      : null}
  <//>`;
}
