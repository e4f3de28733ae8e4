import type { Document, MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import type { StoreConfig } from '../pipeline/config';
import { checkShardKey, ensureShardingIndexes } from '../pipeline/store/indexes';
import { COLLECTIONS } from '../pipeline/store/layout';

/**
 * Shard `meter` at deployment, before any load: `metering store init`, or the controller at
 * start-up when `store.sharded: true`. The indexes are prepared first (the supporting index and the
 * unique message-id index with the key as prefix), then `shardCollection` on the configured key while
 * the collection is still empty, so MongoDB pre-splits it: with a hashed first field an empty
 * collection gets ranges on every shard (7.2/8.0: one per shard; 7.0: two), and inserts are spread
 * from the first sample. Scale-out then only adds shards (the actuator refuses to shard under load).
 */

export class StoreInitError extends Error {}

export interface StoreInitReport {
  ns: string;
  key: Record<string, unknown>;
  status: 'sharded' | 'already';
  /** Documents in meter when it was sharded (0 = pre-split possible). */
  documentsAtInit?: number;
  /** Ranges per shard right after sharding (config.chunks). */
  rangesPerShard: Record<string, number>;
  presplit: string;
  indexes?: { created: string[]; kept: string[]; dropped: string[] };
}

/** How the key will be pre-split on an empty collection (pure). */
export function presplitPlan(key: Record<string, unknown>): { presplit: boolean; why: string } {
  const fields = Object.entries(key);
  if (fields[0]?.[1] === 'hashed') return { presplit: true, why: `hashed first field ${fields[0][0]}: MongoDB splits an empty collection across every shard at shardCollection` };
  if (fields.some(([, v]) => v === 'hashed')) return { presplit: false, why: `the hashed field is not first: MongoDB does no initial split without zones (presplitHashedZones)` };
  return { presplit: false, why: 'a range key: no initial split (MongoDB cannot know the value distribution); the balancer spreads ranges by size as data arrives' };
}

/** Ranges per shard of a collection from config.chunks (joined on the collection's uuid; 5.0+). */
export async function rangesPerShard(client: MongoClient, ns: string): Promise<Record<string, number>> {
  const config = client.db('config');
  const coll = await config.collection('collections').findOne({ _id: ns as never });
  if (!coll) return {};
  const filter: Document = coll.uuid ? { uuid: coll.uuid } : { ns };
  const rows = await config.collection('chunks').aggregate<{ _id: string; n: number }>([{ $match: filter }, { $group: { _id: '$shard', n: { $sum: 1 } } }]).toArray();
  return Object.fromEntries(rows.map((r) => [r._id, r.n]));
}

/** Whether `client` talks to a mongos (hello.msg === 'isdbgrid'; isMaster on servers without hello). */
export async function isMongos(client: MongoClient): Promise<boolean> {
  const admin = client.db('admin');
  const hello = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
  return hello.msg === 'isdbgrid';
}

export async function initShardedStore(client: MongoClient, store: Pick<StoreConfig, 'database' | 'shardKey'>, log?: Logger): Promise<StoreInitReport> {
  const key = store.shardKey;
  checkShardKey(key);
  const ns = `${store.database}.${COLLECTIONS.meter}`;
  if (!(await isMongos(client))) {
    throw new StoreInitError(`store.sharded is true but ${ns} is not on a sharded cluster: the store URI must point to a mongos (this server is not one)`);
  }
  const existing = await client.db('config').collection('collections').findOne({ _id: ns as never });
  if (existing && !existing.dropped && !existing.unsplittable) {
    if (JSON.stringify(existing.key) !== JSON.stringify(key)) {
      throw new StoreInitError(`${ns} is already sharded on ${JSON.stringify(existing.key)}, store.shardKey is ${JSON.stringify(key)}: not resharding automatically (reshardCollection moves every document; do it deliberately, or set store.shardKey to the current key)`);
    }
    return { ns, key, status: 'already', rangesPerShard: await rangesPerShard(client, ns), presplit: 'already sharded: nothing to do' };
  }
  const db = client.db(store.database);
  const documentsAtInit = await db.collection(COLLECTIONS.meter).estimatedDocumentCount();
  const indexes = await ensureShardingIndexes(db, key);
  await client.db('admin').command({ enableSharding: store.database }).catch((err: { codeName?: string }) => {
    if (err.codeName !== 'AlreadyInitialized') throw err;
  });
  await client.db('admin').command({ shardCollection: ns, key });
  const plan = presplitPlan(key);
  const ranges = await rangesPerShard(client, ns);
  const shards = ((await client.db('admin').command({ listShards: 1 })).shards as Document[]).map((s) => String(s._id));
  const onEvery = shards.every((s) => (ranges[s] ?? 0) > 0);
  const presplit =
    documentsAtInit > 0
      ? `${ns} already held ${documentsAtInit} documents: no pre-split (MongoDB splits only empty collections); the balancer spreads it by size`
      : plan.presplit
        ? `${plan.why}; ranges per shard: ${shards.map((s) => `${s} ${ranges[s] ?? 0}`).join(', ')}${onEvery ? '' : ' (not every shard got one)'}`
        : plan.why;
  log?.info({ ns, key, documentsAtInit, ranges, presplit }, 'meter sharded at deployment');
  return { ns, key, status: 'sharded', documentsAtInit, rangesPerShard: ranges, presplit, indexes: { created: indexes.created, kept: indexes.kept, dropped: indexes.dropped } };
}
