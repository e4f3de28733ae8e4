import { MongoBulkWriteError, type Db, type Document, type WriteConcernSettings } from 'mongodb';
import type { StoreConfig } from '../config';
import type { Logger } from '../../lib/log';
import { COLLECTIONS, type MeterDoc, type MeterFlagDoc, type PreparedSample, type ResourceDoc } from './layout';
import { NOT_YOUR_RESOURCE, ownerKey, writeOwnedResources } from './ownership';
import { CONFLICT_REASON, classifyDuplicates } from './duplicates';
import { ResourceTracker } from './resource-cache';
import { ensureIndexes, type EnsureIndexesReport } from './indexes';
import { DUPLICATE_KEY, hasWriteConcernError, writeFailures, type BulkWriteFailure } from './bulk-errors';

/**
 * Writes batches of samples to the metering store with an exactly-once effect:
 *  - `resource` upserts and `meter_flags` first (idempotent, so a retried batch repeats them safely),
 *    then one unordered `insertMany` of the `meter` documents;
 *  - a duplicate-key error (11000) on the unique message-id index means "already stored" (counted as a
 *    duplicate, not an error); one on `_id` means this writer inserted the document in an earlier
 *    attempt of the same batch whose answer was lost (counted as stored);
 *  - any other failure fails the whole batch (`StoreWriteError`), which the caller retries: nothing that
 *    was accepted is dropped, and nothing is stored twice.
 */

/** Server codes that reject one document for good; retrying cannot help, so the sample is dead-lettered. */
const PERMANENT_DOC_CODES = new Set([2 /* BadValue */, 14 /* TypeMismatch */, 121 /* DocumentValidationFailure */, 10334 /* BSONObjectTooLarge */, 17280 /* KeyTooLong */]);

export interface BatchWriteResult {
  /** Samples whose `meter` document this batch stored. */
  stored: PreparedSample[];
  /** Samples already in the store (same message id): not stored again. */
  duplicates: PreparedSample[];
  /** Samples the server refused for good, with its reason. */
  refused: Array<{ entry: PreparedSample; reason: string }>;
  latencyMs: number;
}

/** A batch write that failed as a whole; the batch must be retried. */
export class StoreWriteError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'StoreWriteError';
  }
}

/** The configuration does not fit the server (e.g. majority write concern on a standalone). */
export class StoreConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConfigError';
  }
}

export interface ServerTopology {
  kind: 'replica-set' | 'mongos' | 'standalone';
  setName?: string;
}

/** Classify the server from its `isMaster`/`hello` answer. */
export function topologyOf(hello: Document): ServerTopology {
  if (hello.msg === 'isdbgrid') return { kind: 'mongos' };
  if (typeof hello.setName === 'string') return { kind: 'replica-set', setName: hello.setName };
  return { kind: 'standalone' };
}

/**
 * `majority` (or w > 1) only means something on a replica set or through mongos. On a standalone the
 * store refuses to start rather than silently weakening the guarantee: the operator must say
 * `store.writeConcern: 1`. (The mongo-java-server stand-in accepts and ignores any write concern,
 * w: 2 included, so without this check the guarantee would be void without notice.)
 */
export function checkWriteConcern(store: Pick<StoreConfig, 'writeConcern'>, topology: ServerTopology, where: string): void {
  const w = store.writeConcern;
  const needsReplication = w === 'majority' || (typeof w === 'number' && w > 1);
  if (needsReplication && topology.kind === 'standalone') {
    throw new StoreConfigError(
      `store.writeConcern is ${JSON.stringify(w)} but ${where} is a standalone server (no replica set, not mongos): ` +
        `the acknowledgement would not mean what it says. Set store.writeConcern: 1 explicitly to accept single-node durability.`,
    );
  }
}

export function writeConcernOf(store: Pick<StoreConfig, 'writeConcern' | 'journal'>): WriteConcernSettings {
  return { w: store.writeConcern, j: store.journal };
}

/** A duplicate on `_id` is our own earlier insert of the very same document (ids are pre-assigned per sample). */
function isOwnEarlierInsert(e: BulkWriteFailure): boolean {
  if (e.keyPattern) return Object.keys(e.keyPattern).length === 1 && '_id' in e.keyPattern;
  return /index: _id_ /.test(e.errmsg ?? '');
}

export class MeterStoreWriter {
  readonly writeConcern: WriteConcernSettings;
  /** What this writer has durably written to each resource: upserts that would change nothing are skipped. */
  readonly resources: ResourceTracker;

  constructor(
    readonly db: Db,
    readonly config: StoreConfig,
    private readonly log?: Logger,
  ) {
    this.writeConcern = writeConcernOf(config);
    this.resources = new ResourceTracker({ maxResources: config.resourceCacheSize ?? 100_000, granularityMs: (config.resourceGranularitySeconds ?? 600) * 1000 });
  }

  /** Check the write concern against the server, then create/adjust the indexes. */
  async prepare(): Promise<{ topology: ServerTopology; indexes: EnsureIndexesReport }> {
    // isMaster rather than hello: the stand-in does not know `hello`; real servers answer both.
    const topology = topologyOf(await this.db.admin().command({ isMaster: 1 }));
    checkWriteConcern(this.config, topology, `the server of database ${this.db.databaseName}`);
    const indexes = await ensureIndexes(this.db, await this.effectiveIndexConfig(topology));
    return { topology, indexes };
  }

  /**
   * The index configuration to apply: the configured one, unless `meter` is already sharded (by the
   * autoscaler or an operator), in which case the indexes must follow the collection's actual shard
   * key, or the store would try to rebuild a unique index MongoDB refuses on a sharded collection.
   */
  private async effectiveIndexConfig(topology: ServerTopology): Promise<StoreConfig> {
    if (topology.kind !== 'mongos') return this.config;
    const ns = `${this.db.databaseName}.${COLLECTIONS.meter}`;
    const sharded = await this.db.client.db('config').collection('collections').findOne({ _id: ns as never, dropped: { $ne: true }, unsplittable: { $ne: true } });
    if (!sharded?.key) return this.config;
    const key = sharded.key as StoreConfig['shardKey'];
    if (!this.config.sharded || JSON.stringify(key) !== JSON.stringify(this.config.shardKey)) {
      this.log?.warn({ ns, shardKey: key, configured: { sharded: this.config.sharded, shardKey: this.config.shardKey } }, 'meter is sharded on this key: indexes follow it (set store.sharded and store.shardKey to match)');
    }
    return { ...this.config, sharded: true, shardKey: key };
  }

  /** A tiny idempotent write with the store's write concern: resolves when the store takes writes. */
  async probe(): Promise<void> {
    await this.db.collection(COLLECTIONS.ingestProbe).updateOne({ _id: 'probe' as never }, { $set: { at: new Date() } }, { upsert: true, writeConcern: this.writeConcern });
  }

  async writeBatch(batch: readonly PreparedSample[]): Promise<BatchWriteResult> {
    const started = performance.now();
    const result: BatchWriteResult = { stored: [], duplicates: [], refused: [], latencyMs: 0 };
    if (batch.length === 0) return result;
    // Resource first, then meter (as Ceilometer did): a sample is never visible in `meter` without its
    // resource, and a failed resource write leaves nothing of the batch behind to reason about.
    let mine = batch;
    try {
      const foreign = await this.writeResources(batch);
      if (foreign.size) {
        const isForeign = (p: PreparedSample) => foreign.has(ownerKey(p.sample.resource_id, p.sample.project_id));
        mine = batch.filter((p) => !isForeign(p));
        for (const p of batch) if (isForeign(p)) result.refused.push({ entry: p, reason: NOT_YOUR_RESOURCE });
      }
    } catch (err) {
      throw new StoreWriteError(`resource upsert failed: ${(err as Error).message}`, err);
    }
    if (mine.length) await this.insertMeters(mine, result);
    result.latencyMs = performance.now() - started;
    return result;
  }

  /**
   * Ceilometer's resource upserts (and signature flags) for the batch, only for the resources the batch
   * changes (ResourceTracker), with ownership kept (ownership.ts); returns the (resource, project) pairs
   * owned by another project. What was written is recorded in the tracker once acknowledged; a foreign
   * pair never is, so its next sample is checked again.
   */
  async writeResources(batch: readonly PreparedSample[]): Promise<Set<string>> {
    const writeConcern = this.writeConcern;
    const due = this.resources.due(batch);
    const foreign = due.length ? await writeOwnedResources(this.db.collection<ResourceDoc>(COLLECTIONS.resource), due, writeConcern) : new Set<string>();
    this.resources.confirm(foreign.size ? due.filter((p) => !foreign.has(ownerKey(p.sample.resource_id, p.sample.project_id))) : due);
    const flagged = batch.filter((p) => p.sample.signature_invalid && !foreign.has(ownerKey(p.sample.resource_id, p.sample.project_id)));
    if (flagged.length) {
      const flaggedAt = new Date();
      await this.db.collection<MeterFlagDoc>(COLLECTIONS.meterFlags).bulkWrite(
        flagged.map((p) => ({
          updateOne: { filter: { _id: p.sample.message_id }, update: { $setOnInsert: { signature_invalid: true, flagged_at: flaggedAt } }, upsert: true },
        })),
        { ordered: false, writeConcern },
      );
    }
    return foreign;
  }

  /**
   * Unordered insert of the batch's meter documents, sorting every sample into stored, duplicate or
   * refused. Only an answer with per-document write errors is classified per document (a batch is one
   * wire command: at most ingest.batchMaxSamples documents and batchMaxBytes, far below the server's
   * 100,000 / 48 MB split points, so the server answered for every document). Anything else — a
   * network error, a failover, a timeout (the driver wraps these in MongoBulkWriteError with no write
   * errors), or a write-concern error (the documents may be rolled back) — fails the batch, and the
   * retry inserts all of it again: documents that did land come back as duplicates on their `_id`,
   * assigned once at admission, and count as stored.
   */
  private async insertMeters(batch: readonly PreparedSample[], result: BatchWriteResult): Promise<void> {
    try {
      await this.db.collection<MeterDoc>(COLLECTIONS.meter).insertMany(
        batch.map((p) => p.doc),
        { ordered: false, writeConcern: this.writeConcern },
      );
      result.stored.push(...batch);
      return;
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw new StoreWriteError(`meter insert failed: ${(err as Error).message}`, err);
      const errors = writeFailures(err);
      if (errors.length === 0) throw new StoreWriteError(`meter insert failed: ${err.message}`, err);
      if (hasWriteConcernError(err)) throw new StoreWriteError('meter insert failed: write concern error (the documents may not be durable; retrying the batch)', err);
      const other = errors.filter((e) => e.code !== DUPLICATE_KEY && !PERMANENT_DOC_CODES.has(e.code ?? -1));
      if (other.length) throw new StoreWriteError(`meter insert failed: ${other.length} write error(s), first: ${other[0]!.errmsg ?? other[0]!.code}`, err);
      const failedAt = new Map(errors.map((e) => [e.index, e]));
      const hits: PreparedSample[] = [];
      for (let i = 0; i < batch.length; i++) {
        const p = batch[i]!;
        const e = failedAt.get(i);
        if (!e) result.stored.push(p);
        else if (e.code === DUPLICATE_KEY) (isOwnEarlierInsert(e) ? result.stored : hits).push(p);
        else result.refused.push({ entry: p, reason: `store refused the sample (code ${e.code}): ${e.errmsg ?? ''}`.trim() });
      }
      // a taken message id is a redelivery only when the stored sample is the same: otherwise a conflict
      let classified;
      try {
        classified = await classifyDuplicates(this.db.collection<MeterDoc>(COLLECTIONS.meter), hits);
      } catch (e) {
        throw new StoreWriteError(`meter insert: reading the stored samples of duplicate message ids failed: ${(e as Error).message}`, e);
      }
      result.duplicates.push(...classified.duplicates);
      for (const p of classified.conflicts) result.refused.push({ entry: p, reason: CONFLICT_REASON });
    }
  }
}
