import type { Db } from 'mongodb';

/**
 * `$merge` into a sharded collection needs `on` fields that include every shard-key field (MongoDB:
 * "the on field … must contain the shard key"); mediation merges into `usage` on `_id`, which is only
 * valid while `usage` is unsharded or sharded on `_id`. Checked before the pipeline runs, so a
 * misconfigured cluster fails with a message naming the collection and key instead of a server error
 * after the range was cleared.
 */
export class MergeTargetError extends Error {}

/** Pure: refuse `on` fields that do not cover the target's shard key (undefined key = unsharded: fine). */
export function checkMergeOn(ns: string, on: readonly string[], shardKey: Record<string, unknown> | undefined): void {
  if (!shardKey) return;
  const missing = Object.keys(shardKey).filter((f) => !on.includes(f));
  if (missing.length === 0) return;
  throw new MergeTargetError(
    `$merge into ${ns} on ${JSON.stringify(on)} is not possible: ${ns} is sharded on ${JSON.stringify(shardKey)} and the on fields lack ` +
      `${missing.map((f) => `"${f}"`).join(', ')}; leave ${ns} unsharded (mediated usage is small) or shard it on {_id: "hashed"}`,
  );
}

/**
 * The shard key of `db.coll` from the config server's catalogue (`config.collections`, read through
 * mongos), or undefined when it is not sharded (no entry, dropped, or an 8.0 unsplittable entry) or
 * the deployment has no catalogue (a replica set, a standalone).
 */
export async function shardKeyOf(db: Db, coll: string): Promise<Record<string, unknown> | undefined> {
  const ns = `${db.databaseName}.${coll}`;
  const entry = await db.client.db('config').collection('collections').findOne({ _id: ns as never }).catch(() => null);
  if (!entry || entry.dropped || entry.unsplittable || !entry.key) return undefined;
  return entry.key as Record<string, unknown>;
}

/** Check a `$merge` target before running the pipeline; throws MergeTargetError with the reason. */
export async function assertMergeTarget(db: Db, into: string, on: readonly string[]): Promise<void> {
  checkMergeOn(`${db.databaseName}.${into}`, on, await shardKeyOf(db, into));
}
