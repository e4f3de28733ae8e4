import { DECIMAL_LITERAL, Dec, minorUnits, toDec } from '../rating/money';
import { accountKey, buildInvoice, type Account, type Invoice, type InvoiceEntry, type InvoiceInput } from './invoice';

export class InvoiceImmutableError extends Error {
  constructor(readonly number: string) {
    super(`invoice ${number} is issued and cannot change; record a correction instead (it becomes an adjustment on the next invoice)`);
  }
}

/** A draft took pending corrections or credits that another invoice of the account has since consumed. */
export class StaleDraftError extends Error {
  constructor(readonly number: string) {
    super(`draft ${number} is stale: pending corrections or credits it includes went onto another issued invoice; redraft it before issuing`);
  }
}

/** A correction amount: a plain signed decimal in the currency's minor units (refused otherwise, before it is queued). */
export function correctionAmount(amount: string, currency: string): string {
  if (!DECIMAL_LITERAL.test(amount.trim())) throw new Error(`correction amount ${JSON.stringify(amount)}: expected a decimal number such as "-3.00"`);
  const value = toDec(amount.trim());
  const decimals = minorUnits(currency);
  if (value.decimalPlaces() > decimals) throw new Error(`correction amount ${amount}: ${currency} has ${decimals} decimal place(s)`);
  return value.toFixed(decimals);
}

/**
 * Invoices per account. Drafts can be rebuilt (re-rating replaces them); an issued invoice never
 * changes: `save` refuses it, and a correction becomes an adjustment queued for the account's next
 * invoice. Credit left over on an invoice is queued the same way.
 */
export class InvoiceRepository {
  private readonly invoices = new Map<string, Invoice>();
  private readonly pending = new Map<string, InvoiceEntry[]>();
  /** The pending entries each draft took (by identity), to refuse issuing a draft gone stale. */
  private readonly takenBy = new Map<string, InvoiceEntry[]>();
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
    const taken = this.pending.get(accountKey(input.account)) ?? [];
    const inv = buildInvoice({ ...input, number: existing?.number ?? this.nextNumber(), entries: [...taken, ...(input.entries ?? [])] });
    this.invoices.set(inv.number, inv);
    this.takenBy.set(inv.number, [...taken]);
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
    const key = accountKey(inv.account);
    const taken = this.takenBy.get(number) ?? [];
    const stillPending = this.pending.get(key) ?? [];
    if (taken.some((t) => !stillPending.includes(t))) throw new StaleDraftError(number);
    inv.status = 'issued';
    inv.issued_at = at.toISOString();
    Object.freeze(inv);
    this.takenBy.delete(number);
    const left = stillPending.filter((p) => !taken.includes(p));
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
    const entry: InvoiceEntry = { kind: 'adjustment', description, amount: correctionAmount(amount, inv.currency), corrects: number };
    const key = accountKey(inv.account);
    this.pending.set(key, [...(this.pending.get(key) ?? []), entry]);
    return entry;
  }
}
