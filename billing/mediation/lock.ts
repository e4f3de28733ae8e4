import { randomBytes } from 'node:crypto';
import { MongoServerError, type Db } from 'mongodb';
import { isDuplicateKeyError } from '../../pipeline/store/bulk-errors';
import type { Granularity } from './periods';
import { monthsOf } from './runs';

/** A lock document: who holds the key and until when (a lease: a crashed holder's lock expires). */
interface LockDoc {
  _id: string;
  owner: string;
  expires_at: Date;
  acquired_at: Date;
}

export class LockTimeoutError extends Error {}
export class LockLostError extends Error {}

export interface LockOptions {
  /** Lease length: a holder that dies frees the lock after this long (renewed every ttl/3 while held). */
  ttlMs?: number;
  /** How long to wait for a held lock before giving up (the job fails and BullMQ retries it). */
  waitMs?: number;
  /** Collection of the locks (default `locks`). */
  collection?: string;
}

/**
 * Mutual exclusion between processes through MongoDB: one document per key, taken with one atomic
 * single-document write (findOneAndUpdate with upsert; a held key makes the upsert collide on `_id`).
 * Works on any MongoDB (no transactions). Keys are taken in sorted order, so two holders of
 * overlapping key sets cannot deadlock. `assertHeld()` is checked before a result is switched live.
 */
export class LeaseLocks {
  readonly owner = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly coll: string;

  constructor(private readonly db: Db, opts: LockOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.waitMs = opts.waitMs ?? 600_000;
    this.coll = opts.collection ?? 'locks';
  }

  private get locks() {
    return this.db.collection<LockDoc>(this.coll);
  }

  private async tryAcquire(key: string, owner: string): Promise<boolean> {
    const now = new Date();
    try {
      await this.locks.findOneAndUpdate(
        { _id: key, $or: [{ expires_at: { $lte: now } }, { owner }] },
        { $set: { owner, expires_at: new Date(now.getTime() + this.ttlMs), acquired_at: now } },
        { upsert: true },
      );
      return true;
    } catch (err) {
      if (err instanceof MongoServerError && isDuplicateKeyError(err)) return false; // held by another, lease still valid
      throw err;
    }
  }

  /** Run `fn` holding every key (sorted, de-duplicated); the leases are renewed while it runs and released after. */
  async withLocks<T>(keys: readonly string[], fn: (held: { assertHeld(): Promise<void> }) => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const owner = `${this.owner}-${randomBytes(4).toString('hex')}`;
    const taken: string[] = [];
    let lost: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const key of sorted) {
        const until = Date.now() + this.waitMs;
        let delay = 50;
        while (!(await this.tryAcquire(key, owner))) {
          if (Date.now() > until) throw new LockTimeoutError(`lock ${key} is held by another job for more than ${this.waitMs} ms`);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 1000);
        }
        taken.push(key);
      }
      timer = setInterval(() => {
        void (async () => {
          for (const key of taken) {
            const r = await this.locks.updateOne({ _id: key, owner }, { $set: { expires_at: new Date(Date.now() + this.ttlMs) } });
            if (r.matchedCount === 0) lost = key;
          }
        })().catch(() => undefined);
      }, Math.max(100, Math.floor(this.ttlMs / 3)));
      timer.unref();
      const assertHeld = async () => {
        if (lost) throw new LockLostError(`lock ${lost} expired and was taken by another job`);
        for (const key of taken) {
          const r = await this.locks.updateOne({ _id: key, owner }, { $set: { expires_at: new Date(Date.now() + this.ttlMs) } });
          if (r.matchedCount === 0) throw new LockLostError(`lock ${key} expired and was taken by another job`);
        }
      };
      return await fn({ assertHeld });
    } finally {
      if (timer) clearInterval(timer);
      if (taken.length) await this.locks.deleteMany({ _id: { $in: taken }, owner }).catch(() => undefined);
    }
  }
}

/**
 * Lock keys: mediation of any range takes one lock per calendar month (of the zone) it touches,
 * billing work (rating, settling, drafting, the cycle's invoices) one per month too, so the billing
 * cycle and late-data re-mediation of the same month never interleave, while other months run in parallel.
 */
export const mediationLockKeys = (r: { from: Date; to: Date; granularity: Granularity; timezone: string }) => monthsOf(r.from, r.to, r.timezone).map((m) => `mediation|${r.granularity}|${r.timezone}|${m.toISOString()}`);
export const billingLockKeys = (r: { from: Date; to: Date; timezone: string }) => monthsOf(r.from, r.to, r.timezone).map((m) => `billing|${r.timezone}|${m.toISOString()}`);
