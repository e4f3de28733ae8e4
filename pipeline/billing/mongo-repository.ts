import { MongoServerError, type Db } from 'mongodb';
import { Dec } from '../rating/money';
import { accountKey, buildInvoice, type Account, type Invoice, type InvoiceEntry, type InvoiceInput } from './invoice';
import { InvoiceImmutableError, StaleDraftError, correctionAmount } from './repository';

interface InvoiceDoc extends Invoice {
  _id: string;
  account_key: string;
  /** Pending entries this draft includes; consumed when it is issued. */
  pending_ids: string[];
}
interface PendingDoc {
  _id: string;
  account_key: string;
  entry: InvoiceEntry;
  created_at: Date;
}

/**
 * Invoices in MongoDB with the same rules as InvoiceRepository, enforced by the server: every write
 * to an invoice filters on `status: 'draft'`, so an issued invoice cannot be changed even by a
 * concurrent writer; corrections and carried-forward credit wait in `invoice_pending` for the
 * account's next invoice.
 */
export class MongoInvoiceRepository {
  constructor(private readonly db: Db, private readonly prefix = 'INV', private readonly names = { invoices: 'invoices', pending: 'invoice_pending', counters: 'counters' }) {}

  private get invoices() {
    return this.db.collection<InvoiceDoc>(this.names.invoices);
  }
  private get pending() {
    return this.db.collection<PendingDoc>(this.names.pending);
  }

  async ensureIndexes(): Promise<void> {
    await this.invoices.createIndex({ account_key: 1, period_start: 1, period_end: 1 }, { unique: true, name: 'invoice_account_period' });
    await this.pending.createIndex({ account_key: 1, created_at: 1 }, { name: 'pending_account' });
  }

  private async nextNumber(): Promise<string> {
    const c = await this.db
      .collection<{ _id: string; seq: number }>(this.names.counters)
      .findOneAndUpdate({ _id: `invoice:${this.prefix}` }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after' });
    return `${this.prefix}-${String(c!.seq).padStart(6, '0')}`;
  }

  private strip(d: InvoiceDoc | null): Invoice | undefined {
    if (!d) return undefined;
    const { _id: _i, account_key: _a, pending_ids: _p, ...inv } = d;
    return inv;
  }

  async get(number: string): Promise<Invoice | undefined> {
    return this.strip(await this.invoices.findOne({ _id: number }));
  }

  /**
   * Invoices, newest period first: those whose account includes one of `projects` (all when
   * absent), optionally only one status.
   */
  async list(filter: { projects?: string[]; status?: Invoice['status']; limit?: number } = {}): Promise<Invoice[]> {
    const q: Record<string, unknown> = {};
    if (filter.projects) {
      q.$or = [{ 'account.project_id': { $in: filter.projects } }, { 'account.projects': { $in: filter.projects } }];
    }
    if (filter.status) q.status = filter.status;
    const docs = await this.invoices.find(q as never).sort({ period_start: -1, _id: 1 }).limit(filter.limit ?? 200).toArray();
    return docs.map((d) => this.strip(d)!);
  }

  async pendingEntries(account: Account): Promise<InvoiceEntry[]> {
    return (await this.pending.find({ account_key: accountKey(account) }).sort({ created_at: 1, _id: 1 }).toArray()).map((p) => p.entry);
  }

  /** Draft or redraft the account's invoice for the period (same number on redraft). */
  async draft(input: Omit<InvoiceInput, 'number' | 'entries'> & { entries?: InvoiceEntry[] }): Promise<Invoice> {
    const key = accountKey(input.account);
    const ps = input.period_start.toISOString();
    const pe = input.period_end.toISOString();
    const existing = await this.invoices.findOne({ account_key: key, period_start: ps, period_end: pe });
    if (existing?.status === 'issued') throw new InvoiceImmutableError(existing._id);
    const pend = await this.pending.find({ account_key: key }).sort({ created_at: 1, _id: 1 }).toArray();
    const number = existing?._id ?? (await this.nextNumber());
    const inv = buildInvoice({ ...input, number, entries: [...pend.map((p) => p.entry), ...(input.entries ?? [])] });
    const doc: InvoiceDoc = { ...inv, _id: number, account_key: key, pending_ids: pend.map((p) => p._id) };
    try {
      await this.invoices.replaceOne({ _id: number, status: 'draft' }, doc, { upsert: true });
    } catch (err) {
      // the invoice was issued between our read and this write: the upsert collides with it
      if (err instanceof MongoServerError && err.code === 11000) throw new InvoiceImmutableError(number);
      throw err;
    }
    return inv;
  }

  /** Issue a draft; it can never change afterwards. */
  async issue(number: string, at = new Date()): Promise<Invoice> {
    // A draft copies the account's pending corrections and credits; another draft of the same account
    // may have been issued since and consumed them. Issuing this one too would apply them twice.
    const draft = await this.invoices.findOne({ _id: number, status: 'draft' });
    if (draft && draft.pending_ids.length > 0) {
      const still = await this.pending.countDocuments({ _id: { $in: draft.pending_ids } });
      if (still < draft.pending_ids.length) throw new StaleDraftError(number);
    }
    const doc = await this.invoices.findOneAndUpdate({ _id: number, status: 'draft' }, { $set: { status: 'issued', issued_at: at.toISOString() } }, { returnDocument: 'after' });
    if (!doc) {
      if (await this.invoices.findOne({ _id: number })) throw new InvoiceImmutableError(number);
      throw new Error(`no invoice ${number}`);
    }
    if (doc.pending_ids.length > 0) await this.pending.deleteMany({ _id: { $in: doc.pending_ids } });
    if (new Dec(doc.credit_carried_forward).gt(0)) {
      await this.pending.insertOne({
        _id: `${number}:carry`, account_key: doc.account_key, created_at: at,
        entry: { kind: 'credit', description: `credit carried forward from ${number}`, amount: doc.credit_carried_forward },
      });
    }
    return this.strip(doc)!;
  }

  /** A correction of an issued invoice becomes an adjustment on the account's next invoice. */
  async correct(number: string, amount: string, description: string, at = new Date()): Promise<InvoiceEntry> {
    const inv = await this.invoices.findOne({ _id: number });
    if (!inv) throw new Error(`no invoice ${number}`);
    if (inv.status !== 'issued') throw new Error(`invoice ${number} is a draft: redraft it instead of correcting it`);
    const entry: InvoiceEntry = { kind: 'adjustment', description, amount: correctionAmount(amount, inv.currency), corrects: number };
    const seq = await this.pending.countDocuments({ account_key: inv.account_key });
    await this.pending.insertOne({ _id: `${number}:corr:${at.getTime()}:${seq}`, account_key: inv.account_key, entry, created_at: at });
    return entry;
  }
}
