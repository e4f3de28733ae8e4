import { randomUUID } from 'node:crypto';
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Db } from 'mongodb';
import type { Logger } from '../../lib/log';
import type { SampleObserver, StoredSample } from '../sample';
import { onlyDuplicateKeys } from '../store/bulk-errors';
import { hourKey, hourStart } from './hours';

/**
 * The ledger of what ingestion stored, per resource and UTC hour of the sample's timestamp: the
 * "accepted" side of the reconciliation. It counts on the interception hook (freshly stored samples
 * only, never duplicates, never the store) and adds its counts to `ingest_ledger` every flush.
 *
 * A flush is idempotent: each carries an id, every document remembers the ids of its recent flushes
 * (`flushes`, the last FLUSH_IDS_KEPT), and the update only applies where that id is absent; a retry
 * of a flush that landed matches nothing and its upsert hits the duplicate key, which means "done".
 * So a flush whose answer was lost is retried without counting twice. A process that dies between a
 * batch write and the next flush loses at most `ledgerFlushMs` of counts; the reconciliation then
 * shows those hours as `unaccounted` (stored, not in the ledger), never as lost data.
 */

export const LEDGER_COLLECTION = 'ingest_ledger';
const FLUSH_IDS_KEPT = 32;

export interface LedgerDoc {
  /** `<resource_id>|<hour key>` */
  _id: string;
  resource_id: string;
  project_id: string | null;
  hour: Date;
  accepted: number;
  flushes: string[];
  updated_at: Date;
}

export interface LedgerEntry {
  resource_id: string;
  project_id: string | null;
  hour: Date;
  n: number;
}

/**
 * The ledger's TTL index: a document goes `retentionDays` after its count last changed (by arrival, not
 * by the samples' own hour, so a replay of old data is reconciled like new data). An hour whose ledger
 * document expired shows its stored samples as unaccounted.
 */
export async function ensureLedgerIndexes(db: Db, retentionDays: number): Promise<void> {
  const expireAfterSeconds = retentionDays * 86_400;
  const coll = db.collection(LEDGER_COLLECTION);
  const existing = (await coll.indexes().catch(() => [])).find((i) => i.name === 'ledger_ttl');
  if (existing && existing.expireAfterSeconds === expireAfterSeconds && existing.key?.updated_at === 1) return;
  // the retention changed: recreate the index (collMod would need privileges the writer may lack)
  if (existing) await coll.dropIndex('ledger_ttl');
  await coll.createIndex({ updated_at: 1 }, { name: 'ledger_ttl', expireAfterSeconds });
}

export const ledgerId = (resourceId: string, hour: Date): string => `${resourceId}|${hourKey(hour)}`;

export class AcceptedLedger implements SampleObserver {
  readonly name = 'accepted-ledger';
  private pending = new Map<string, LedgerEntry>();
  /** Flushes that failed, retried with their own id so they never count twice. */
  private retries: Array<{ id: string; entries: Map<string, LedgerEntry> }> = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  failures = 0;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {}

  onStored(samples: readonly StoredSample[]): void {
    for (const s of samples) {
      const hour = hourStart(s.timestamp);
      const id = ledgerId(s.resource_id, hour);
      const e = this.pending.get(id);
      if (e) e.n++;
      else this.pending.set(id, { resource_id: s.resource_id, project_id: s.project_id, hour, n: 1 });
    }
  }

  /** Counts not yet written (all flushes included). */
  get unflushed(): number {
    let n = 0;
    for (const e of this.pending.values()) n += e.n;
    for (const r of this.retries) for (const e of r.entries.values()) n += e.n;
    return n;
  }

  /** Write every count held now; resolves when written (rejects if the store refused, keeping them for the next flush). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    this.flushing = this.flushOnce();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.size > 0) {
      this.retries.push({ id: randomUUID(), entries: this.pending });
      this.pending = new Map();
    }
    while (this.retries.length > 0) {
      const batch = this.retries[0]!;
      await this.write(batch.id, batch.entries);
      this.retries.shift();
    }
  }

  private async write(flushId: string, entries: Map<string, LedgerEntry>): Promise<void> {
    try {
      await applyLedgerFlush(this.db, flushId, entries.values());
    } catch (err) {
      this.failures++;
      throw err;
    }
  }

  /** Flush every `intervalMs` (errors are logged and the counts kept for the next flush). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.log?.warn({ err: (err as Error).message, unflushed: this.unflushed }, 'ingest ledger flush failed; counts kept for the next flush'));
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}

/**
 * Add one flush's counts to the ledger, at most once per flush id: a retry of a flush that already
 * landed changes nothing (see the header).
 */
export async function applyLedgerFlush(db: Db, flushId: string, entries: Iterable<LedgerEntry>): Promise<void> {
  const now = new Date();
  const ops: AnyBulkWriteOperation<LedgerDoc>[] = [...entries].map((e) => ({
    updateOne: {
      filter: { _id: ledgerId(e.resource_id, e.hour), flushes: { $ne: flushId } },
      update: {
        $inc: { accepted: e.n },
        $setOnInsert: { resource_id: e.resource_id, project_id: e.project_id, hour: e.hour },
        $set: { updated_at: now },
        $push: { flushes: { $each: [flushId], $slice: -FLUSH_IDS_KEPT } },
      },
      upsert: true,
    },
  }));
  if (ops.length === 0) return;
  try {
    await db.collection<LedgerDoc>(LEDGER_COLLECTION).bulkWrite(ops, { ordered: false });
  } catch (err) {
    if (err instanceof MongoBulkWriteError) {
      // duplicate key = this flush already landed on that document; anything else is retried
      if (onlyDuplicateKeys(err)) return;
    }
    throw err;
  }
}
