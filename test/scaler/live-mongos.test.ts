import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log';
import { clusterStatus, renderStatus } from '../../scaler/cluster/cluster';
import { collectSignals } from '../../scaler/signals';

/**
 * Against an existing sharded cluster: MONGODB_URI pointing to a mongos (e.g. one started with
 * `metering cluster up`). Read-mostly: writes only to its own database, dropped afterwards.
 */
const uri = process.env.MONGODB_URI;
if (!uri) console.warn('skipped: needs real mongod/mongos (set MONGODB_URI to a mongos, or MONGO_BIN_DIR for the local cluster tests): live signal collection');

describe.skipIf(!uri)('signals and status from a live mongos (MONGODB_URI)', () => {
  let client: MongoClient;
  let isMongos = false;
  const db = `scaler_live_${process.pid}`;
  beforeAll(async () => {
    client = await new MongoClient(uri!, { serverSelectionTimeoutMS: 10_000 }).connect();
    // the MongoDB stand-in (tier 2) has no `hello`: it is not a mongos either
    const hello = await client.db('admin').command({ hello: 1 }).catch((err: Error) => ({ msg: undefined, error: err.message }));
    isMongos = hello.msg === 'isdbgrid';
    if (!isMongos) console.warn(`skipped: MONGODB_URI is not a mongos (${'error' in hello ? `hello failed: ${hello.error}` : 'hello.msg != isdbgrid'}): live signal collection`);
  });
  afterAll(async () => {
    await client?.db(db).dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('collects per-shard rates, disk and data distribution', async (ctx) => {
    if (!isMongos) ctx.skip();
    const log = createLogger('scaler-test', 'silent');
    const deps = { mongos: client, connect: (h: string) => new MongoClient(`mongodb://${h}/?directConnection=true`).connect(), log, database: db, collection: 'meter', withDistribution: true };
    const state = new Map();
    await collectSignals(deps, state);
    await client.db(db).collection('meter').insertMany(Array.from({ length: 500 }, (_, i) => ({ i })));
    await new Promise((r) => setTimeout(r, 1100));
    const r = await collectSignals(deps, state);
    const shards = (await client.db('admin').command({ listShards: 1 })).shards.length;
    expect(r.observations).toHaveLength(shards);
    expect(r.observations.every((o) => o.disk !== undefined && o.disk > 0 && o.disk <= 100)).toBe(true);
    expect(r.observations.reduce((a, o) => a + (o.writes_per_s ?? 0), 0)).toBeGreaterThan(0);
    const text = renderStatus(await clusterStatus(uri!));
    expect(text).toContain('balancer:');
  });
});
