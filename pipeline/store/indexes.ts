import type { Collection, Db, IndexDescription } from 'mongodb';
import type { StoreConfig } from '../config';
import { isDuplicateKeyError } from './bulk-errors';
import { COLLECTIONS, METER_FIELDS } from './layout';

/**
 * The indexes of the metering store: Ceilometer's (`upgrade()` in the 7.0.0 MongoDB driver) plus the
 * unique message-id index that makes redelivery harmless. The plan is pure; `ensureIndexes` applies it.
 */

export type IndexKey = Record<string, 1 | -1 | 'hashed'>;

export interface PlannedIndex {
  collection: string;
  name: string;
  key: IndexKey;
  unique?: boolean;
  expireAfterSeconds?: number;
}

export const UNIQUE_MESSAGE_INDEX = 'meter_message_id_unique';
export const SHARD_KEY_INDEX = 'meter_shard_key';

/** Shard-key fields must be `meter` fields (or paths inside resource_metadata); a typo would shard on a missing field. */
export function checkShardKey(shardKey: IndexKey): void {
  for (const field of Object.keys(shardKey)) {
    const top = field.split('.')[0];
    const known = (METER_FIELDS as readonly string[]).includes(field) || field === '_id' || (top === 'resource_metadata' && field.includes('.'));
    if (!known) throw new Error(`store.shardKey: field '${field}' is not a meter field (expected one of _id, ${METER_FIELDS.join(', ')} or resource_metadata.<path>)`);
  }
}

/**
 * The unique index that deduplicates redelivered samples. MongoDB only enforces a unique index on a
 * sharded collection when the shard key is a prefix of it, so when the store is sharded the index is
 * the shard key's fields (a hashed field as ascending, since a unique index cannot be hashed) followed
 * by `message_id`. A redelivered sample has the same resource_id, timestamp and message_id as the
 * original, so uniqueness on the longer key still rejects it. Unsharded: `{project_id: 1, message_id: 1}`,
 * so one project's ids can never collide with another's (on a sharded store the key starts with
 * `resource_id`, which resource ownership keeps within one project).
 */
export function uniqueMessageKey(store: Pick<StoreConfig, 'sharded' | 'shardKey'>): IndexKey {
  if (!store.sharded) return { project_id: 1, message_id: 1 };
  checkShardKey(store.shardKey);
  const key: IndexKey = {};
  for (const [field, dir] of Object.entries(store.shardKey)) key[field] = dir === 'hashed' ? 1 : dir;
  if (!('message_id' in key)) key.message_id = 1;
  return key;
}

/** Every index the store should have for this configuration (TTL ones only when ttlSeconds > 0). */
export function indexPlan(store: Pick<StoreConfig, 'sharded' | 'shardKey' | 'ttlSeconds'>): PlannedIndex[] {
  const { meter, resource, deadLetter } = COLLECTIONS;
  const plan: PlannedIndex[] = [
    { collection: meter, name: 'meter_idx', key: { resource_id: 1, user_id: 1, counter_name: 1, timestamp: 1 } },
    { collection: meter, name: 'meter_project_idx', key: { resource_id: 1, project_id: 1, counter_name: 1, timestamp: 1 } },
    { collection: meter, name: 'timestamp_idx', key: { timestamp: -1 } },
    { collection: meter, name: UNIQUE_MESSAGE_INDEX, key: uniqueMessageKey(store), unique: true },
    { collection: resource, name: 'resource_user_project_timestamp', key: { user_id: -1, project_id: -1, last_sample_timestamp: -1 } },
    { collection: resource, name: 'last_sample_timestamp_idx', key: { last_sample_timestamp: -1 } },
    { collection: deadLetter, name: 'dead_letter_received_idx', key: { received_at: -1 } },
  ];
  if (store.sharded) plan.push({ collection: meter, name: SHARD_KEY_INDEX, key: { ...store.shardKey } });
  if (store.ttlSeconds > 0) {
    plan.push({ collection: meter, name: 'meter_ttl', key: { timestamp: 1 }, expireAfterSeconds: store.ttlSeconds });
    plan.push({ collection: resource, name: 'resource_ttl', key: { last_sample_timestamp: 1 }, expireAfterSeconds: store.ttlSeconds });
  }
  return plan;
}

/** TTL index names the store drops when ttlSeconds ≤ 0 (Ceilometer's `update_ttl`). */
const TTL_INDEXES = [
  { collection: COLLECTIONS.meter, name: 'meter_ttl' },
  { collection: COLLECTIONS.resource, name: 'resource_ttl' },
];

const sameKey = (a: Record<string, unknown>, b: Record<string, unknown>): boolean => JSON.stringify(a) === JSON.stringify(b);

export interface EnsureIndexesReport {
  created: string[];
  kept: string[];
  changed: string[];
  dropped: string[];
}

const emptyReport = (): EnsureIndexesReport => ({ created: [], kept: [], changed: [], dropped: [] });

/**
 * Bring the store's indexes in line with the plan. An index that already exists with the same key and
 * options (under any name, e.g. the one shardCollection created) is kept; one of ours whose key or
 * options differ is changed (TTL via collMod, falling back to drop + create where collMod is missing).
 */
export async function ensureIndexes(db: Db, store: StoreConfig): Promise<EnsureIndexesReport> {
  const indexes = new IndexLists(db);
  const report = await applyIndexPlan(db, indexPlan(store), indexes);
  if (store.ttlSeconds <= 0) {
    for (const ttl of TTL_INDEXES) {
      const have = await indexes.of(ttl.collection);
      if (have.some((ix) => ix.name === ttl.name)) {
        indexes.changed(ttl.collection);
        await db.collection(ttl.collection).dropIndex(ttl.name);
        report.dropped.push(`${ttl.collection}.${ttl.name}`);
      }
    }
  }
  return report;
}

/**
 * What `meter` needs before shardCollection on `shardKey`: the index supporting the key, and the
 * unique message-id index rebuilt with the key as its prefix (MongoDB refuses to shard a collection
 * with a unique index that does not start with the shard key). The new unique index is built before
 * the old one is dropped, so redelivered samples are rejected throughout.
 */
export async function ensureShardingIndexes(db: Db, shardKey: IndexKey): Promise<EnsureIndexesReport> {
  const plan = indexPlan({ sharded: true, shardKey, ttlSeconds: -1 }).filter(
    (ix) => ix.collection === COLLECTIONS.meter && (ix.name === UNIQUE_MESSAGE_INDEX || ix.name === SHARD_KEY_INDEX),
  );
  return applyIndexPlan(db, plan);
}

/** Each collection's indexes, listed once and again only after this run changed them. */
class IndexLists {
  private readonly lists = new Map<string, Promise<IndexDescription[]>>();
  constructor(private readonly db: Db) {}

  of(collection: string): Promise<IndexDescription[]> {
    let list = this.lists.get(collection);
    if (!list) {
      list = this.db.collection(collection).listIndexes().toArray().catch((err: { code?: number }) => {
        if (err.code === 26) return []; // NamespaceNotFound: collection not created yet
        throw err;
      }) as Promise<IndexDescription[]>;
      this.lists.set(collection, list);
    }
    return list;
  }

  changed(collection: string): void {
    this.lists.delete(collection);
  }
}

async function applyIndexPlan(db: Db, plan: readonly PlannedIndex[], indexes = new IndexLists(db)): Promise<EnsureIndexesReport> {
  const report = emptyReport();
  for (const want of plan) {
    const coll = db.collection(want.collection);
    const have = await indexes.of(want.collection);
    const sameOptions = (ix: IndexDescription) =>
      Boolean(ix.unique) === Boolean(want.unique) && (ix.expireAfterSeconds ?? undefined) === want.expireAfterSeconds;
    const byName = have.find((ix) => ix.name === want.name);
    const equivalent = have.find((ix) => sameKey(ix.key as Record<string, unknown>, want.key) && sameOptions(ix));
    const label = `${want.collection}.${want.name}`;
    if (equivalent) {
      report.kept.push(label);
      continue;
    }
    indexes.changed(want.collection); // every path below changes this collection's indexes
    if (byName) {
      if (want.expireAfterSeconds !== undefined && sameKey(byName.key as Record<string, unknown>, want.key)) {
        try {
          await db.command({ collMod: want.collection, index: { keyPattern: want.key, expireAfterSeconds: want.expireAfterSeconds } });
          report.changed.push(label);
          continue;
        } catch (err) {
          if ((err as { code?: number }).code !== 59) throw err; // CommandNotFound (the stand-in): drop + create below
        }
      }
      if (sameKey(byName.key as Record<string, unknown>, want.key)) {
        // same key, other options (MongoDB holds one index per key): drop and rebuild
        await coll.dropIndex(want.name);
        await createPlanned(coll, want);
      } else {
        // another key: build the new index before dropping the old one (under a name of its own, as two
        // indexes cannot share one), so a unique index keeps deduplicating and a failed build keeps the old
        const renamed = { ...want, name: `${want.name}__${Object.keys(want.key).join('_')}`.slice(0, 120) };
        await createPlanned(coll, renamed);
        await coll.dropIndex(want.name);
      }
      report.changed.push(label);
      continue;
    }
    await createPlanned(coll, want);
    report.created.push(label);
  }
  return report;
}

/**
 * The store holds samples that repeat a message id (a database written by Ceilometer's old MongoDB
 * driver, which never deduplicated): the unique index cannot be built until they are quarantined.
 */
export class LegacyDuplicatesError extends Error {
  constructor(readonly database: string, index: PlannedIndex, serverMessage: string) {
    super(
      `cannot build the unique index ${index.name} ${JSON.stringify(index.key)} on ${index.collection}: samples in database ${database} already repeat ` +
        `a message id (${serverMessage}). This is what Ceilometer's old MongoDB driver leaves behind (it never deduplicated). Take the database over with ` +
        `\`metering store migrate --uri <store.uri> --database ${database} --dry-run\` to see what would move, then without --dry-run: it keeps the earliest ` +
        `recorded copy of each sample, moves the others to meter_quarantine (nothing is deleted) and builds the indexes`,
    );
  }
}

async function createPlanned(coll: Collection, want: PlannedIndex): Promise<void> {
  try {
    await coll.createIndex(want.key, indexOptions(want));
  } catch (err) {
    if (want.unique && isDuplicateKeyError(err)) {
      if (want.name === UNIQUE_MESSAGE_INDEX) throw new LegacyDuplicatesError(coll.dbName, want, (err as Error).message);
      throw new Error(
        `cannot build the unique index ${want.name} ${JSON.stringify(want.key)} on ${coll.collectionName}: documents already repeat that key ` +
          `(${(err as Error).message}); remove the duplicates (same ${Object.keys(want.key).join(', ')}) and start again`,
      );
    }
    throw err;
  }
}

function indexOptions(want: PlannedIndex): { name: string; unique?: boolean; expireAfterSeconds?: number } {
  return {
    name: want.name,
    ...(want.unique ? { unique: true } : {}),
    ...(want.expireAfterSeconds !== undefined ? { expireAfterSeconds: want.expireAfterSeconds } : {}),
  };
}
