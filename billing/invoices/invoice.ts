import { Dec, formatMoney, minorUnits } from '../rating/money';
import type { LineItem } from '../rating/rate';

/**
 * Who an invoice is for: one project, a named group of projects billed together, or one user of a
 * project (needs lines rated per user, `rateUsage(..., {by: 'user'})`).
 */
export type Account =
  | { kind: 'project'; project_id: string }
  | { kind: 'group'; group: string; projects: string[] }
  | { kind: 'user'; project_id: string; user_id: string };

export function accountKey(a: Account): string {
  return a.kind === 'project' ? `project:${a.project_id}` : a.kind === 'group' ? `group:${a.group}` : `user:${a.project_id}:${a.user_id}`;
}

export function accountProjects(a: Account): string[] {
  return a.kind === 'group' ? a.projects : [a.project_id];
}

export function accountHasLine(a: Account, projects: Set<string>, l: LineItem): boolean {
  if (!projects.has(l.project_id)) return false;
  return a.kind === 'user' ? l.user_id === a.user_id : true;
}

/**
 * Money added to or taken off an invoice besides rated usage. Amounts are positive decimal
 * strings; `credit` lowers the total, `debit` raises it, `adjustment` carries its own sign (a
 * correction of an issued invoice: `corrects` names that invoice).
 */
export interface InvoiceEntry {
  kind: 'credit' | 'debit' | 'adjustment';
  description: string;
  amount: string;
  corrects?: string;
  /** A correction of late usage: the period and rated line of the corrected invoice it re-bills. */
  period_start?: string;
  period_end?: string;
  line_id?: string;
  meter?: string;
  project_id?: string;
}

export interface Invoice {
  number: string;
  account: Account;
  period_start: string;
  period_end: string;
  currency: string;
  lines: LineItem[];
  entries: InvoiceEntry[];
  subtotal: string;
  credits: string;
  debits: string;
  adjustments: string;
  /** Amount due, never below zero. */
  total: string;
  /** Credit left over when credits exceed the charges; carried to the next invoice. */
  credit_carried_forward: string;
  status: 'draft' | 'issued';
  issued_at?: string;
}

export interface InvoiceInput {
  number: string;
  account: Account;
  period_start: Date;
  period_end: Date;
  currency: string;
  /** Rated lines; only those of the account's projects within the period are taken. */
  lines: readonly LineItem[];
  entries?: readonly InvoiceEntry[];
}

/** Build a draft invoice: Σ lines + debits − credits ± adjustments, in the currency's minor unit. */
export function buildInvoice(input: InvoiceInput): Invoice {
  const projects = new Set(accountProjects(input.account));
  const ps = input.period_start.toISOString();
  const pe = input.period_end.toISOString();
  const lines = input.lines.filter((l) => accountHasLine(input.account, projects, l) && l.period_start >= ps && l.period_end <= pe);
  if (input.account.kind === 'user' && input.lines.some((l) => l.user_id === undefined && projects.has(l.project_id))) {
    throw new Error('a per-user invoice needs lines rated per user (rate with by: user)');
  }
  for (const l of lines) if (l.currency !== input.currency) throw new Error(`line ${l.id} is in ${l.currency}, the invoice in ${input.currency}`);
  const sum = (xs: readonly { amount: string }[]) => xs.reduce((s, x) => s.plus(x.amount), new Dec(0));
  const entries = [...(input.entries ?? [])];
  for (const e of entries) {
    const a = new Dec(e.amount);
    if (e.kind !== 'adjustment' && a.lt(0)) throw new Error(`${e.kind} "${e.description}" must be a positive amount (got ${e.amount})`);
    if (a.decimalPlaces() > minorUnits(input.currency)) throw new Error(`${e.kind} "${e.description}": ${e.amount} has more decimals than ${input.currency} allows`);
  }
  const subtotal = sum(lines);
  const credits = sum(entries.filter((e) => e.kind === 'credit'));
  const debits = sum(entries.filter((e) => e.kind === 'debit'));
  const adjustments = sum(entries.filter((e) => e.kind === 'adjustment'));
  const due = subtotal.plus(debits).minus(credits).plus(adjustments);
  const fmt = (d: InstanceType<typeof Dec>) => formatMoney(d, input.currency);
  return {
    number: input.number,
    account: input.account,
    period_start: ps,
    period_end: pe,
    currency: input.currency,
    lines,
    entries,
    subtotal: fmt(subtotal),
    credits: fmt(credits),
    debits: fmt(debits),
    adjustments: fmt(adjustments),
    total: fmt(Dec.max(due, 0)),
    credit_carried_forward: fmt(Dec.max(due.neg(), 0)),
    status: 'draft',
  };
}
