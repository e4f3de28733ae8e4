import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { prepareSample } from '../../../pipeline/store/layout';
import { ensureShardingIndexes, UNIQUE_MESSAGE_INDEX } from '../../../pipeline/store/indexes';
import { isolation } from '../../support/isolation';
import { connect, dropDb, makeSamples, testStoreConfig } from './helpers';

const iso = isolation(import.meta.url);
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await dropDb(db);
  await client.close();
});

describe('preparing a store that ran unsharded for sharding', () => {
  it('rebuilds the unique message-id index behind the shard key, keeps deduplicating, and is idempotent', async () => {
    // the store as it runs before any scale-out: unsharded, unique {project_id: 1, message_id: 1}
    const writer = new MeterStoreWriter(db, testStoreConfig(db.databaseName));
    await writer.prepare();
    const samples = makeSamples(20);
    await writer.writeBatch(samples.map((s) => prepareSample(s)));

    const key = { resource_id: 1 as const, timestamp: 1 as const }; // a range key: the stand-in has no hashed indexes
    const report = await ensureShardingIndexes(db, key);
    expect(report.changed).toEqual([`meter.${UNIQUE_MESSAGE_INDEX}`]);
    expect(report.created).toEqual(['meter.meter_shard_key']);

    const indexes = await db.collection('meter').listIndexes().toArray();
    const unique = indexes.filter((ix) => ix.unique);
    expect(unique.map((ix) => ix.key)).toEqual([{ resource_id: 1, timestamp: 1, message_id: 1 }]);
    expect(indexes.some((ix) => JSON.stringify(ix.key) === JSON.stringify(key))).toBe(true);

    // redelivery is still rejected by the new unique index
    const again = await writer.writeBatch(samples.map((s) => prepareSample(s)));
    expect(again.duplicates).toHaveLength(20);
    expect(await db.collection('meter').countDocuments()).toBe(20);

    // a second run changes nothing
    const second = await ensureShardingIndexes(db, key);
    expect(second.created).toEqual([]);
    expect(second.changed).toEqual([]);
  });
});
