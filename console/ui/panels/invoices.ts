import { useState } from 'preact/hooks';
import { Empty, html, Panel, useConsole, usePoll } from '../lib';
import { formatMoney, formatTime } from '../units';

interface Line {
  id: string;
  meter: string;
  quantity: string;
  unit: string;
  billable: string;
  free: string;
  amount: string;
  currency: string;
  period_start: string;
}
interface Entry {
  kind?: string;
  type?: string;
  amount: string;
  reason?: string;
  description?: string;
}
interface Invoice {
  number: string;
  account: { kind: string; project_id?: string; group?: string; user_id?: string };
  period_start: string;
  period_end: string;
  currency: string;
  lines: Line[];
  entries: Entry[];
  subtotal: string;
  credits: string;
  debits: string;
  adjustments: string;
  total: string;
  status: 'draft' | 'issued';
  issued_at?: string;
}

const trimQty = (q: string): string => {
  const n = Number(q);
  return Number.isFinite(n) ? n.toLocaleString('en-GB', { maximumFractionDigits: 2 }) : q;
};

function InvoiceView(props: { inv: Invoice; onIssued: () => void }) {
  const { api, isAdmin } = useConsole();
  const { inv } = props;
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<string | undefined>();
  const issue = async () => {
    if (!window.confirm(`Issue ${inv.number}? An issued invoice never changes; corrections go on the next one.`)) return;
    setBusy(true);
    try {
      await api.post(`/v1/invoices/${encodeURIComponent(inv.number)}/issue`);
      setMsg(`${inv.number} issued`);
      props.onIssued();
    } catch (err) {
      setMsg((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const money = (a: string) => formatMoney(a, inv.currency);
  return html`<article class="invoice" aria-label=${`invoice ${inv.number}`}>
    <div class="row-between">
      <h3>${inv.number} <span class=${`badge ${inv.status === 'draft' ? 'warn' : 'ok'}`}>${inv.status}</span></h3>
      ${isAdmin && inv.status === 'draft' ? html`<button type="button" data-admin="issue" onClick=${issue} disabled=${busy}>${busy ? 'Issuing…' : 'Issue this draft'}</button>` : null}
    </div>
    ${msg ? html`<p class="note" role="status">${msg}</p>` : null}
    <p class="muted">${inv.account.kind} ${inv.account.project_id ?? inv.account.group ?? inv.account.user_id ?? ''}, ${formatTime(inv.period_start)} → ${formatTime(inv.period_end)}</p>
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">period</th><th scope="col">item</th><th scope="col">quantity</th><th scope="col">free</th><th scope="col">amount</th></tr></thead>
      <tbody>${inv.lines.map((l) => html`<tr><td>${l.period_start.slice(0, 10)}</td><th scope="row">${l.meter}</th><td class="num">${trimQty(l.quantity)} ${l.unit}</td><td class="num">${trimQty(l.free)}</td><td class="num">${money(l.amount)}</td></tr>`)}</tbody>
      <tfoot>
        <tr><th scope="row" colspan="4">subtotal</th><td class="num">${money(inv.subtotal)}</td></tr>
        <tr><th scope="row" colspan="4">credits</th><td class="num">${money(inv.credits)}</td></tr>
        <tr><th scope="row" colspan="4">debits</th><td class="num">${money(inv.debits)}</td></tr>
        <tr><th scope="row" colspan="4">corrections and adjustments</th><td class="num">${money(inv.adjustments)}</td></tr>
        <tr class="total"><th scope="row" colspan="4">total</th><td class="num">${money(inv.total)}</td></tr>
      </tfoot>
    </table></div>
    ${inv.entries.length ? html`<ul class="entries">${inv.entries.map((e) => html`<li>${e.kind ?? e.type ?? 'entry'}: ${money(e.amount)} ${e.reason ?? e.description ?? ''}</li>`)}</ul>` : null}
  </article>`;
}

export function InvoicesPanel() {
  const { api } = useConsole();
  const poll = usePoll(() => api.get<{ invoices: Invoice[] }>('/v1/invoices'));
  const list = poll.data?.invoices ?? [];
  const [chosen, setChosen] = useState<string | undefined>();
  const inv = list.find((i) => i.number === chosen) ?? list[0];
  return html`<${Panel} name="invoices" title="Invoices" poll=${poll}>
    ${list.length
      ? html`<div class="grid-side">
          <ul class="invoice-list" aria-label="invoices, newest period first">${list.map(
            (i) => html`<li><button type="button" class="link" aria-pressed=${i === inv} onClick=${() => setChosen(i.number)}>${i.number}</button> ${i.status}, ${formatMoney(i.total, i.currency)}, ${i.period_start.slice(0, 10)}</li>`,
          )}</ul>
          ${inv ? html`<${InvoiceView} inv=${inv} onIssued=${poll.reload} />` : null}
        </div>`
      : html`<${Empty}>No invoices yet: drafts come from POST /v1/jobs/invoice.<//>`}
  <//>`;
}
