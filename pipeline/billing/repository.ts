import { Dec } from '../rating/money';
import { accountKey, buildInvoice, type Account, type Invoice, type InvoiceEntry, type InvoiceInput } from './invoice';

export class InvoiceImmutableError extends Error {
  constructor(readonly number: string) {
    super(`invoice ${number} is issued and cannot change; record a correction instead (it becomes an adjustment on the next invoice)`);
  }
}

/**
 * Invoices per account. Drafts can be rebuilt (re-rating replaces them); an issued invoice never
 * changes: `save` refuses it, and a correction becomes an adjustment queued for the account's next
 * invoice. Credit left over on an invoice is queued the same way.
 */
export class InvoiceRepository {
  private readonly invoices = new Map<string, Invoice>();
  private readonly pending = new Map<string, InvoiceEntry[]>();
  private seq = 0;

  constructor(private readonly prefix = 'INV') {}

  nextNumber(): string {
    return `${this.prefix}-${String(++this.seq).padStart(6, '0')}`;
  }

  get(number: string): Invoice | undefined {
    const inv = this.invoices.get(number);
    return inv && structuredClone(inv);
  }

  list(account?: Account): Invoice[] {
    return [...this.invoices.values()].filter((i) => !account || accountKey(i.account) === accountKey(account)).map((i) => structuredClone(i));
  }

  /** Entries waiting for the account's next invoice (corrections, carried credit). */
  pendingEntries(account: Account): InvoiceEntry[] {
    return [...(this.pending.get(accountKey(account)) ?? [])];
  }

  /**
   * Draft (or redraft) the account's invoice for a period with the pending entries; a draft for the
   * same account and period is replaced and keeps its number, so re-running is idempotent.
   */
  draft(input: Omit<InvoiceInput, 'number' | 'entries'> & { entries?: InvoiceEntry[] }): Invoice {
    const existing = [...this.invoices.values()].find(
      (i) => accountKey(i.account) === accountKey(input.account) && i.period_start === input.period_start.toISOString() && i.period_end === input.period_end.toISOString(),
    );
    if (existing?.status === 'issued') throw new InvoiceImmutableError(existing.number);
    const inv = buildInvoice({ ...input, number: existing?.number ?? this.nextNumber(), entries: [...this.pendingEntries(input.account), ...(input.entries ?? [])] });
    this.invoices.set(inv.number, inv);
    return structuredClone(inv);
  }

  /** Replace a draft; refuses issued invoices. */
  save(inv: Invoice): void {
    const cur = this.invoices.get(inv.number);
    if (cur?.status === 'issued') throw new InvoiceImmutableError(inv.number);
    this.invoices.set(inv.number, structuredClone(inv));
  }

  /** Issue a draft: it becomes immutable; the pending entries it included are consumed. */
  issue(number: string, at = new Date()): Invoice {
    const inv = this.invoices.get(number);
    if (!inv) throw new Error(`no invoice ${number}`);
    if (inv.status === 'issued') throw new InvoiceImmutableError(number);
    inv.status = 'issued';
    inv.issued_at = at.toISOString();
    Object.freeze(inv);
    const key = accountKey(inv.account);
    const left = (this.pending.get(key) ?? []).filter((p) => !inv.entries.some((e) => e === p || JSON.stringify(e) === JSON.stringify(p)));
    if (new Dec(inv.credit_carried_forward).gt(0)) {
      left.push({ kind: 'credit', description: `credit carried forward from ${number}`, amount: inv.credit_carried_forward });
    }
    this.pending.set(key, left);
    return structuredClone(inv);
  }

  /**
   * Correct an issued invoice: a signed amount (negative refunds) becomes an adjustment on the
   * account's next invoice, referencing the corrected one. The issued invoice stays as it was.
   */
  correct(number: string, amount: string, description: string): InvoiceEntry {
    const inv = this.invoices.get(number);
    if (!inv) throw new Error(`no invoice ${number}`);
    if (inv.status !== 'issued') throw new Error(`invoice ${number} is a draft: redraft it instead of correcting it`);
    const entry: InvoiceEntry = { kind: 'adjustment', description, amount: new Dec(amount).toFixed(), corrects: number };
    const key = accountKey(inv.account);
    this.pending.set(key, [...(this.pending.get(key) ?? []), entry]);
    return entry;
  }
}
