import { MongoServerError, type ClientSession, type Db } from 'mongodb';
import { isDuplicateKeyError } from '../../pipeline/store/bulk-errors';
import { Dec } from '../rating/money';
import type { LineItem } from '../rating/rate';
import { correctionAmount, correctionsFor, type RecordedCorrection } from './corrections';
import { accountKey, buildInvoice, type Account, type Invoice, type InvoiceEntry, type InvoiceInput } from './invoice';
import { InvoiceImmutableError, StaleDraftError } from './errors';

interface InvoiceDoc extends Invoice {
  _id: string;
  account_key: string;
  /** Pending entries this draft includes; consumed when it is issued. */
  pending_ids: string[];
  /** The account document's version the draft was built from: issuing needs it unchanged. */
  account_version: number;
}

interface PendingEntry {
  id: string;
  entry: InvoiceEntry;
  created_at: Date;
}

/**
 * One document per account: what waits for its next invoice (corrections, carried credit), every
 * correction ever recorded (so a repeated settle corrects nothing twice), and an interrupted issue.
 * Every change to it is ONE single-document write guarded by `version`: that write is the commit point
 * of an issue (it consumes the pending entries), so nothing can be consumed twice on any MongoDB.
 */
interface AccountDoc {
  _id: string;
  account: Account;
  version: number;
  pending: PendingEntry[];
  corrections: RecordedCorrection[];
  /** Set by the issue's commit, cleared once the invoice document says issued (crash recovery). */
  issuing: { number: string; at: Date } | null;
}

const isDuplicate = (err: unknown) => err instanceof MongoServerError && isDuplicateKeyError(err);

/**
 * Invoices per account, in MongoDB, their rules enforced by the server. Drafts can be rebuilt
 * (re-rating replaces them, keeping their number); an issued invoice never changes: every write to an
 * invoice filters on `status: 'draft'`, so an issued invoice cannot be changed even by a concurrent
 * writer, and a correction becomes an adjustment queued for the account's next invoice (left-over
 * credit is queued the same way). Issuing is crash-safe at every point without transactions:
 *
 * 1. commit: the account document goes from the draft's `account_version` to the next one in one
 *    atomic write, taking the draft's pending entries out, adding the carried credit and recording
 *    `issuing: {number}`. A concurrent issue of the same or another draft that took the same entries
 *    fails this compare-and-set (409);
 * 2. the invoice document is set to issued (filter `status: draft`);
 * 3. `issuing` is cleared.
 *
 * A crash after 1 leaves `issuing` set; the next operation on the account (draft, issue, get,
 * settle) finishes 2 and 3 first. Before 1 nothing happened.
 */
export class MongoInvoiceRepository {
  constructor(private readonly db: Db, private readonly prefix = 'INV', private readonly names = { invoices: 'invoices', pending: 'invoice_accounts', counters: 'counters' }) {}

  private get invoices() {
    return this.db.collection<InvoiceDoc>(this.names.invoices);
  }
  private get accounts() {
    return this.db.collection<AccountDoc>(this.names.pending);
  }

  async ensureIndexes(): Promise<void> {
    await this.migrateLegacyPending();
    await this.invoices.createIndex({ account_key: 1, period_start: 1, period_end: 1 }, { unique: true, name: 'invoice_account_period' });
    await this.invoices.createIndex({ period_start: 1, period_end: 1 }, { name: 'invoice_period' });
  }

  private async nextNumber(): Promise<string> {
    const c = await this.db
      .collection<{ _id: string; seq: number }>(this.names.counters)
      .findOneAndUpdate({ _id: `invoice:${this.prefix}` }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after' });
    return `${this.prefix}-${String(c!.seq).padStart(6, '0')}`;
  }

  private strip(d: InvoiceDoc | null): Invoice | undefined {
    if (!d) return undefined;
    const { _id: _i, account_key: _a, pending_ids: _p, account_version: _v, ...inv } = d;
    return inv;
  }

  /**
   * Before issue 11, pending entries were one document each in `invoice_pending`. Move any left there
   * into their account's document (each at most once: guarded by its id), then remove the old one, so
   * an upgrade forgets no correction or carried credit.
   */
  private async migrateLegacyPending(): Promise<void> {
    if (this.names.pending === 'invoice_pending') return;
    const legacy = this.db.collection<{ _id: string; account_key: string; entry: InvoiceEntry; created_at: Date }>('invoice_pending');
    for await (const p of legacy.find({})) {
      const [kind, a, b] = p.account_key.split(':');
      const account: Account = kind === 'group' ? { kind: 'group', group: a ?? '', projects: [] } : kind === 'user' ? { kind: 'user', project_id: a ?? '', user_id: b ?? '' } : { kind: 'project', project_id: a ?? '' };
      await this.accounts.updateOne(
        { _id: p.account_key, 'pending.id': { $ne: p._id } },
        { $push: { pending: { id: p._id, entry: p.entry, created_at: p.created_at } }, $inc: { version: 1 }, $setOnInsert: { account, corrections: [], issuing: null } },
        { upsert: true },
      ).catch((err: unknown) => {
        if (!isDuplicate(err)) throw err; // already moved (the $ne guard made the upsert collide)
      });
      await legacy.deleteOne({ _id: p._id });
    }
  }

  private transactions?: boolean;

  /**
   * Does the server run multi-document transactions (a replica set or a mongos)? Asked once. The
   * issue is crash-safe without them (the account's compare-and-set is the commit point and the rest
   * is finished by the next operation); with them the whole issue is one transaction.
   */
  private async hasTransactions(): Promise<boolean> {
    if (this.transactions === undefined) {
      try {
        const hello = await this.db.admin().command({ isMaster: 1 });
        this.transactions = (typeof hello.setName === 'string' || hello.msg === 'isdbgrid') && hello.logicalSessionTimeoutMinutes != null && (hello.maxWireVersion ?? 0) >= 8;
      } catch {
        this.transactions = false;
      }
    }
    return this.transactions;
  }

  /** Finish an issue whose commit happened but whose invoice document was not yet updated (a crash). */
  private async finishIssuing(key: string): Promise<AccountDoc | null> {
    const acc = await this.accounts.findOne({ _id: key });
    if (!acc?.issuing) return acc;
    const { number, at } = acc.issuing;
    await this.invoices.updateOne({ _id: number, status: 'draft' }, { $set: { status: 'issued', issued_at: at.toISOString() } });
    await this.accounts.updateOne({ _id: key, 'issuing.number': number }, { $set: { issuing: null } });
    return this.accounts.findOne({ _id: key });
  }

  async get(number: string): Promise<Invoice | undefined> {
    const d = await this.invoices.findOne({ _id: number });
    if (d?.status === 'draft') await this.finishIssuing(d.account_key);
    return this.strip(await this.invoices.findOne({ _id: number }));
  }

  /** The invoice of an account for a period, if any. */
  async find(account: Account, periodStart: Date, periodEnd: Date): Promise<Invoice | undefined> {
    const key = accountKey(account);
    await this.finishIssuing(key);
    return this.strip(await this.invoices.findOne({ account_key: key, period_start: periodStart.toISOString(), period_end: periodEnd.toISOString() }));
  }

  /**
   * Invoices, newest period first: those whose account includes one of `projects` (all when
   * absent), optionally only one status or period range.
   */
  async list(filter: { projects?: string[]; status?: Invoice['status']; limit?: number; periodStart?: string; periodEnd?: string } = {}): Promise<Invoice[]> {
    const q: Record<string, unknown> = {};
    if (filter.projects) {
      q.$or = [{ 'account.project_id': { $in: filter.projects } }, { 'account.projects': { $in: filter.projects } }];
    }
    if (filter.status) q.status = filter.status;
    if (filter.periodStart) q.period_start = filter.periodStart;
    if (filter.periodEnd) q.period_end = filter.periodEnd;
    const docs = await this.invoices.find(q as never).sort({ period_start: -1, _id: 1 }).limit(filter.limit ?? 200).toArray();
    return docs.map((d) => this.strip(d)!);
  }

  /** Invoices whose period overlaps [from, to) (any length of period, any status). */
  async overlapping(from: Date, to: Date): Promise<Invoice[]> {
    const docs = await this.invoices.find({ period_start: { $lt: to.toISOString() }, period_end: { $gt: from.toISOString() } } as never).sort({ period_start: 1, _id: 1 }).toArray();
    return docs.map((d) => this.strip(d)!);
  }

  async pendingEntries(account: Account): Promise<InvoiceEntry[]> {
    const acc = await this.finishIssuing(accountKey(account));
    return (acc?.pending ?? []).map((p) => p.entry);
  }

  /** The account's document as the ledger shows it (pending entries and recorded corrections). */
  async accountState(account: Account): Promise<{ pending: InvoiceEntry[]; corrections: RecordedCorrection[]; version: number }> {
    const acc = await this.finishIssuing(accountKey(account));
    return { pending: (acc?.pending ?? []).map((p) => p.entry), corrections: acc?.corrections ?? [], version: acc?.version ?? 0 };
  }

  /** Draft or redraft the account's invoice for the period (same number on redraft). */
  async draft(input: Omit<InvoiceInput, 'number' | 'entries'> & { entries?: InvoiceEntry[] }): Promise<Invoice> {
    const key = accountKey(input.account);
    const ps = input.period_start.toISOString();
    const pe = input.period_end.toISOString();
    for (let attempt = 0; ; attempt++) {
      const acc = await this.finishIssuing(key);
      const existing = await this.invoices.findOne({ account_key: key, period_start: ps, period_end: pe });
      if (existing?.status === 'issued') throw new InvoiceImmutableError(existing._id);
      const pend = acc?.pending ?? [];
      const number = existing?._id ?? (await this.nextNumber());
      const inv = buildInvoice({ ...input, number, entries: [...pend.map((p) => p.entry), ...(input.entries ?? [])] });
      const doc: InvoiceDoc = { ...inv, _id: number, account_key: key, pending_ids: pend.map((p) => p.id), account_version: acc?.version ?? 0 };
      try {
        await this.invoices.replaceOne({ _id: number, status: 'draft' }, doc, { upsert: true });
        return inv;
      } catch (err) {
        if (!isDuplicate(err)) throw err;
        // issued meanwhile (the upsert collides with it), or a concurrent first draft took the period: look again
        if (attempt >= 2) throw new InvoiceImmutableError(existing?._id ?? number);
      }
    }
  }

  /** Issue a draft; it can never change afterwards. `hooks.afterCommit` is a test seam (a throw there is a crash after the commit point). */
  async issue(number: string, at = new Date(), hooks: { afterCommit?: () => void } = {}): Promise<Invoice> {
    const found = await this.invoices.findOne({ _id: number });
    if (!found) throw new Error(`no invoice ${number}`);
    const key = found.account_key;
    const acc = await this.finishIssuing(key);
    const draft = await this.invoices.findOne({ _id: number });
    if (!draft || draft.status === 'issued') throw new InvoiceImmutableError(number);
    const version = acc?.version ?? 0;
    // A draft copies the account's pending corrections and credits; another draft of the account may
    // have been issued since and consumed them, or new ones may have arrived: it must be redrafted.
    if (version !== draft.account_version) throw new StaleDraftError(number);
    const taken = new Set(draft.pending_ids);
    const pending = (acc?.pending ?? []).filter((p) => !taken.has(p.id));
    if (new Dec(draft.credit_carried_forward).gt(0)) {
      pending.push({ id: `${number}:carry`, created_at: at, entry: { kind: 'credit', description: `credit carried forward from ${number}`, amount: draft.credit_carried_forward } });
    }
    let committed = false;
    const commit = async (session?: ClientSession) => {
      // the commit point: one compare-and-set of the account document
      const r = await this.accounts.updateOne(
        { _id: key, version, issuing: null },
        { $set: { pending, issuing: { number, at } }, $inc: { version: 1 }, $setOnInsert: { account: draft.account, corrections: [] } },
        { upsert: version === 0, ...(session ? { session } : {}) },
      );
      return r.matchedCount + r.upsertedCount > 0;
    };
    try {
      if (await this.hasTransactions()) {
        // where the server has transactions, the commit and the invoice's status change are one transaction
        const session = this.db.client.startSession();
        try {
          await session.withTransaction(async () => {
            committed = await commit(session);
            if (!committed) return;
            await this.invoices.updateOne({ _id: number, status: 'draft' }, { $set: { status: 'issued', issued_at: at.toISOString() } }, { session });
            await this.accounts.updateOne({ _id: key }, { $set: { issuing: null } }, { session });
          });
        } finally {
          await session.endSession();
        }
      } else committed = await commit();
    } catch (err) {
      if (!isDuplicate(err)) throw err;
      committed = false;
    }
    if (!committed) {
      // lost the compare-and-set: to an issue of this same draft (409 already issued) or of another one (stale)
      await this.finishIssuing(key);
      if ((await this.invoices.findOne({ _id: number }))?.status === 'issued') throw new InvoiceImmutableError(number);
      throw new StaleDraftError(number);
    }
    hooks.afterCommit?.();
    await this.finishIssuing(key);
    return this.strip(await this.invoices.findOne({ _id: number }))!;
  }

  /** Queue entries for the account's next invoice (and record corrections) in one atomic write guarded by the version read. */
  private async record(account: Account, version: number, entries: InvoiceEntry[], at: Date): Promise<boolean> {
    const key = accountKey(account);
    const items = entries.map((entry, i) => ({ id: `${entry.corrects ?? 'entry'}:${at.getTime()}:${version}:${i}`, entry, created_at: at }));
    const corrections = entries.filter((e) => e.corrects && e.line_id).map((e) => ({ invoice: e.corrects!, line_id: e.line_id!, amount: e.amount }));
    try {
      const r = await this.accounts.updateOne(
        { _id: key, version },
        { $push: { pending: { $each: items }, corrections: { $each: corrections } }, $inc: { version: 1 }, $setOnInsert: { account, issuing: null } },
        { upsert: version === 0 },
      );
      return r.matchedCount + r.upsertedCount > 0;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }

  /** A correction of an issued invoice becomes an adjustment on the account's next invoice. */
  async correct(number: string, amount: string, description: string, at = new Date()): Promise<InvoiceEntry> {
    const inv = await this.invoices.findOne({ _id: number });
    if (!inv) throw new Error(`no invoice ${number}`);
    if (inv.status !== 'issued') throw new Error(`invoice ${number} is a draft: redraft it instead of correcting it`);
    const entry: InvoiceEntry = { kind: 'adjustment', description, amount: correctionAmount(amount, inv.currency), corrects: number };
    for (;;) {
      const acc = await this.finishIssuing(inv.account_key);
      if (await this.record(inv.account, acc?.version ?? 0, [entry], at)) return entry;
    }
  }

  /**
   * Bring an issued invoice's billing of its period to the period's current rated lines: the
   * differences per line (late usage after issue) are queued as corrections naming the invoice and
   * the period, atomically with the record of what was corrected, so running it again adds nothing.
   */
  async correctFromLines(number: string, lines: readonly LineItem[], at = new Date()): Promise<InvoiceEntry[]> {
    const inv = await this.invoices.findOne({ _id: number, status: 'issued' });
    if (!inv) throw new Error(`invoice ${number} is not issued`);
    for (;;) {
      const acc = await this.finishIssuing(inv.account_key);
      const entries = correctionsFor(this.strip(inv)!, lines, acc?.corrections ?? []);
      if (entries.length === 0) return [];
      if (await this.record(inv.account, acc?.version ?? 0, entries, at)) return entries;
    }
  }

  /** Open drafts of an account (to redraft them after its pending entries changed). */
  async openDrafts(account: Account): Promise<Invoice[]> {
    return (await this.invoices.find({ account_key: accountKey(account), status: 'draft' }).toArray()).map((d) => this.strip(d)!);
  }
}
