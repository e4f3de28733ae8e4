import { Dec } from '../rating/money';
import type { Invoice } from './invoice';

/** A quantity for reading: at most 3 decimals (the invoice's JSON keeps the exact value). */
const shown = (q: string) => new Dec(q).toDecimalPlaces(3).toString();

/** Plain-text rendering of an invoice. */
export function formatInvoice(inv: Invoice): string {
  const a = inv.account;
  const who = a.kind === 'project' ? `project ${a.project_id}` : a.kind === 'group' ? `group ${a.group} (${a.projects.join(', ')})` : `user ${a.user_id} of project ${a.project_id}`;
  const out = [`invoice ${inv.number} (${inv.status}) for ${who}`, `period ${inv.period_start} → ${inv.period_end}`, ''];
  // lines of several periods (daily lines on a longer invoice) say which period they bill
  const periods = new Set(inv.lines.map((l) => l.period_start)).size > 1;
  const rows = inv.lines.map((l) => [l.project_id, periods ? `${l.period_start.slice(0, 16).replace('T00:00', '')}  ${l.meter}` : l.meter, `${shown(l.quantity)}${l.unit ? ' ' + l.unit : ''}`, l.amount]);
  for (const e of inv.entries) rows.push(['', `${e.kind}: ${e.description}`, '', e.kind === 'credit' ? `-${e.amount}` : e.amount]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(0, ...rows.map((r) => r[c]!.length)));
  for (const r of rows) out.push(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}  ${r[3]!.padStart(widths[3]!)}`);
  out.push('', `  subtotal ${inv.subtotal}  credits ${inv.credits}  debits ${inv.debits}  adjustments ${inv.adjustments}`);
  out.push(`  total ${inv.total} ${inv.currency}` + (Number(inv.credit_carried_forward) > 0 ? `  (credit carried forward ${inv.credit_carried_forward})` : ''), '');
  return out.join('\n');
}
