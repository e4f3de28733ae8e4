import { Dec, formatMoney } from '../rating/money';
import type { LineItem } from '../rating/rate';
import { accountKey, accountProjects, type Account, type Invoice, type InvoiceEntry } from './invoice';

/** One money movement of an account, with the usage period it bills. */
export interface LedgerEntry {
  kind: 'line' | 'correction' | 'credit' | 'debit' | 'adjustment';
  /** The invoice it is on; null while it waits for the account's next invoice. */
  invoice: string | null;
  status: 'issued' | 'draft' | 'pending';
  /** The usage period it bills (a line's period; a correction's corrected period). */
  usage_period_start: string | null;
  usage_period_end: string | null;
  project_id: string | null;
  meter: string | null;
  quantity: string | null;
  unit: string | null;
  /** Signed: what it adds to the amount due (credits negative). */
  amount: string;
  /** A correction: the issued invoice it corrects. */
  corrects: string | null;
  description: string;
}

export interface AccountLedger {
  account: string;
  /** The projects the account bills. */
  projects: string[];
  currency: string;
  invoices: Array<Pick<Invoice, 'number' | 'status' | 'period_start' | 'period_end' | 'subtotal' | 'credits' | 'debits' | 'adjustments' | 'total' | 'credit_carried_forward'> & { issued_at: string | null }>;
  entries: LedgerEntry[];
  totals: {
    /** Σ total of the issued invoices: what was charged. */
    issued: string;
    /** Σ total of the open drafts. */
    drafts: string;
    /** Σ entries waiting for the next invoice (corrections, carried credit). */
    pending: string;
  };
}

const lineEntry = (inv: Invoice, l: LineItem): LedgerEntry => ({
  kind: 'line', invoice: inv.number, status: inv.status, usage_period_start: l.period_start, usage_period_end: l.period_end,
  project_id: l.project_id, meter: l.meter, quantity: l.quantity, unit: l.unit ?? null, amount: l.amount, corrects: null,
  description: `${l.meter} ${l.quantity}${l.unit ? ` ${l.unit}` : ''} (${l.plan_id})`,
});

function entryEntry(invoice: string | null, status: LedgerEntry['status'], e: InvoiceEntry, currency: string): LedgerEntry {
  const signed = e.kind === 'credit' ? new Dec(e.amount).neg() : new Dec(e.amount);
  return {
    kind: e.kind === 'adjustment' && e.corrects ? 'correction' : e.kind, invoice, status,
    usage_period_start: e.period_start ?? null, usage_period_end: e.period_end ?? null, project_id: e.project_id ?? null, meter: e.meter ?? null,
    quantity: null, unit: null, amount: formatMoney(signed, currency), corrects: e.corrects ?? null, description: e.description,
  };
}

/**
 * The billing ledger of accounts: every invoice with its lines, credits, debits, adjustments and
 * corrections (each with the usage period it bills), and what waits for the next invoice. An
 * auditor adds up `issued` entries per usage period and compares them with the stored usage
 * (`metering ledger reconcile` does it).
 */
export function buildLedger(invoices: readonly Invoice[], pending: ReadonlyMap<string, { account?: Account; currency?: string; entries: readonly InvoiceEntry[] }>): AccountLedger[] {
  const byAccount = new Map<string, Invoice[]>();
  const projectsOf = new Map<string, string[]>();
  for (const [k, p] of pending) if (p.account) projectsOf.set(k, accountProjects(p.account));
  for (const inv of invoices) projectsOf.set(accountKey(inv.account), accountProjects(inv.account));
  for (const inv of invoices) byAccount.set(accountKey(inv.account), [...(byAccount.get(accountKey(inv.account)) ?? []), inv]);
  for (const k of pending.keys()) if (!byAccount.has(k)) byAccount.set(k, []);
  const out: AccountLedger[] = [];
  for (const [account, list] of [...byAccount].sort(([a], [b]) => a.localeCompare(b))) {
    const sorted = [...list].sort((a, b) => a.period_start.localeCompare(b.period_start) || a.number.localeCompare(b.number));
    const currency = sorted[0]?.currency ?? pending.get(account)?.currency ?? 'EUR';
    const entries: LedgerEntry[] = [];
    const sum = { issued: new Dec(0), drafts: new Dec(0), pending: new Dec(0) };
    for (const inv of sorted) {
      for (const l of inv.lines) entries.push(lineEntry(inv, l));
      for (const e of inv.entries) entries.push(entryEntry(inv.number, inv.status, e, currency));
      (inv.status === 'issued' ? (sum.issued = sum.issued.plus(inv.total)) : (sum.drafts = sum.drafts.plus(inv.total)));
    }
    for (const e of pending.get(account)?.entries ?? []) {
      const le = entryEntry(null, 'pending', e, currency);
      entries.push(le);
      sum.pending = sum.pending.plus(le.amount);
    }
    out.push({
      account, projects: projectsOf.get(account) ?? [], currency,
      invoices: sorted.map((i) => ({
        number: i.number, status: i.status, period_start: i.period_start, period_end: i.period_end, subtotal: i.subtotal, credits: i.credits,
        debits: i.debits, adjustments: i.adjustments, total: i.total, credit_carried_forward: i.credit_carried_forward, issued_at: i.issued_at ?? null,
      })),
      entries,
      totals: { issued: formatMoney(sum.issued, currency), drafts: formatMoney(sum.drafts, currency), pending: formatMoney(sum.pending, currency) },
    });
  }
  return out;
}
