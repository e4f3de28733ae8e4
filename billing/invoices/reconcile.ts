import { Dec, formatMoney } from '../rating/money';
import type { LineItem } from '../rating/rate';
import type { Invoice, InvoiceEntry } from './invoice';

/** One project and usage period: what its raw samples are worth now against what was billed for it. */
export interface ReconciliationRow {
  project_id: string;
  period_start: string;
  period_end: string;
  currency: string;
  /** Σ amounts rated from the raw samples now (independent of `usage` and `rated`). */
  recomputed: string;
  /** Σ the period's lines on its invoice (issued or draft). */
  invoiced: string;
  /** Σ corrections of the period, issued or waiting for the next invoice. */
  corrections: string;
  /** recomputed − invoiced − corrections: zero is the goal. */
  difference: string;
  /** Where the period's invoice is: issued, draft, or none yet. */
  invoice: string | null;
  status: 'issued' | 'draft' | 'not invoiced';
}

export interface Reconciliation {
  rows: ReconciliationRow[];
  totals: { recomputed: string; billed: string; difference: string; currency: string };
}

/**
 * Compare the amounts recomputed from the raw samples with the ledger, per project and usage period:
 * lines on the period's invoice plus the corrections that name the period (on issued invoices, or
 * pending for the next one; a draft's copy of a pending correction is not counted twice).
 */
export function reconcile(recomputed: readonly LineItem[], invoices: readonly Invoice[], pending: readonly InvoiceEntry[], currency: string): Reconciliation {
  type Acc = { project_id: string; period_start: string; period_end: string; recomputed: Dec; invoiced: Dec; corrections: Dec; invoice: string | null; status: ReconciliationRow['status'] };
  const rows = new Map<string, Acc>();
  const row = (project_id: string, period_start: string, period_end: string): Acc => {
    const k = `${project_id}|${period_start}|${period_end}`;
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { project_id, period_start, period_end, recomputed: new Dec(0), invoiced: new Dec(0), corrections: new Dec(0), invoice: null, status: 'not invoiced' }));
    return r;
  };
  for (const l of recomputed) row(l.project_id, l.period_start, l.period_end).recomputed = row(l.project_id, l.period_start, l.period_end).recomputed.plus(l.amount);
  const correction = (e: InvoiceEntry) => {
    if (!e.corrects || !e.project_id || !e.period_start || !e.period_end) return;
    const r = row(e.project_id, e.period_start, e.period_end);
    r.corrections = r.corrections.plus(e.amount);
  };
  for (const inv of invoices) {
    for (const l of inv.lines) {
      const r = row(l.project_id, l.period_start, l.period_end);
      r.invoiced = r.invoiced.plus(l.amount);
      r.invoice = inv.number;
      r.status = inv.status;
    }
    if (inv.status === 'issued') inv.entries.forEach(correction);
  }
  pending.forEach(correction);
  const out = [...rows.values()]
    .sort((a, b) => a.period_start.localeCompare(b.period_start) || a.project_id.localeCompare(b.project_id))
    .map((r) => ({
      project_id: r.project_id, period_start: r.period_start, period_end: r.period_end, currency,
      recomputed: formatMoney(r.recomputed, currency), invoiced: formatMoney(r.invoiced, currency), corrections: formatMoney(r.corrections, currency),
      difference: formatMoney(r.recomputed.minus(r.invoiced).minus(r.corrections), currency), invoice: r.invoice, status: r.status,
    }));
  const total = (f: (r: ReconciliationRow) => Dec) => out.reduce((s, r) => s.plus(f(r)), new Dec(0));
  return {
    rows: out,
    totals: {
      recomputed: formatMoney(total((r) => new Dec(r.recomputed)), currency),
      billed: formatMoney(total((r) => new Dec(r.invoiced).plus(r.corrections)), currency),
      difference: formatMoney(total((r) => new Dec(r.difference)), currency),
      currency,
    },
  };
}
