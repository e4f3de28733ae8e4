import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyError as isDuplicateKey } from '../pipeline/store/bulk-errors';
import type { LeaseRecord } from './lease';

export const LEASES_COLLECTION = 'cluster_leases';

/** A lease document: the record plus what is shown in `GET /v1/cluster/controllers`. */
export interface LeaseDoc extends Omit<LeaseRecord, 'role'> {
  _id: string;
  /** When the holder last acquired or renewed it, by the store's clock ($currentDate). */
  renewed_at?: Date;
  acquired_at?: Date;
  released_at?: Date;
}

const toRecord = (d: LeaseDoc): LeaseRecord => ({ role: d._id, holder: d.holder, instance: d.instance, token: d.token, version: d.version, ttl_ms: d.ttl_ms });

/**
 * The leases in MongoDB (`cluster_leases`, one document per role). Every change is one conditional
 * single-document write, so two controllers can never both succeed: acquire inserts (duplicate key if
 * another got there first), takeover compares the version and instance it saw, renew and release
 * compare instance and token. Times written are the store's ($currentDate), for display only.
 */
export class LeaseStore {
  readonly coll: Collection<LeaseDoc>;

  constructor(db: Db, private readonly timeoutMs: number) {
    this.coll = db.collection<LeaseDoc>(LEASES_COLLECTION);
  }

  async read(): Promise<Map<string, LeaseRecord>> {
    const docs = await this.coll.find({}, { maxTimeMS: this.timeoutMs }).toArray();
    return new Map(docs.map((d) => [d._id, toRecord(d)]));
  }

  async docs(): Promise<LeaseDoc[]> {
    return this.coll.find({}, { maxTimeMS: this.timeoutMs }).sort({ _id: 1 }).toArray();
  }

  /** The first lease of `role`: token 1. Null when another controller created it first. */
  async create(role: string, holder: string, instance: string, ttlMs: number): Promise<LeaseRecord | null> {
    const now = new Date(); // display only (an insert cannot take the store's clock)
    try {
      await this.coll.insertOne({ _id: role, holder, instance, token: 1, version: 1, ttl_ms: ttlMs, renewed_at: now, acquired_at: now });
    } catch (err) {
      if (isDuplicateKey(err)) return null;
      throw err;
    }
    return { role, holder, instance, token: 1, version: 1, ttl_ms: ttlMs };
  }

  /** Take the lease over from the version and instance seen; the token grows by one. Null when it changed meanwhile. */
  async takeover(role: string, expect: { version: number; instance: string | null }, holder: string, instance: string, ttlMs: number): Promise<LeaseRecord | null> {
    const doc = await this.coll.findOneAndUpdate(
      { _id: role, version: expect.version, instance: expect.instance },
      { $set: { holder, instance, ttl_ms: ttlMs }, $inc: { token: 1, version: 1 }, $currentDate: { renewed_at: true, acquired_at: true } },
      { returnDocument: 'after', maxTimeMS: this.timeoutMs },
    );
    return doc ? toRecord(doc) : null;
  }

  /** Renew our hold; false when the lease is no longer ours (taken over). */
  async renew(role: string, instance: string, token: number, ttlMs: number): Promise<LeaseRecord | null> {
    const doc = await this.coll.findOneAndUpdate(
      { _id: role, instance, token },
      { $inc: { version: 1 }, $set: { ttl_ms: ttlMs }, $currentDate: { renewed_at: true } },
      { returnDocument: 'after', maxTimeMS: this.timeoutMs },
    );
    return doc ? toRecord(doc) : null;
  }

  /** Give the lease up (graceful shutdown): the next controller need not wait for it to lapse. The token stays, so the next holder's is higher. */
  async release(role: string, instance: string, token: number): Promise<boolean> {
    const r = await this.coll.updateOne(
      { _id: role, instance, token },
      { $set: { holder: null, instance: null }, $inc: { version: 1 }, $currentDate: { released_at: true } },
    );
    return r.modifiedCount === 1;
  }
}
