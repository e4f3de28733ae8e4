import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoBulkWriteError, MongoNetworkError, type Db, type MongoClient } from 'mongodb';
import { MeterStoreWriter, StoreWriteError } from '../../../pipeline/store/writer';
import { prepareSample } from '../../../pipeline/store/layout';
import { isolation } from '../../support/isolation';
import { connect, dropDb, makeSamples, testStoreConfig } from './helpers';

const iso = isolation(import.meta.url);
let client: MongoClient;
let db: Db;

/**
 * The real database, except that the next meter insertMany fails the way the driver reports a lost
 * connection or failover: a MongoBulkWriteError wrapping the network error, with no write errors.
 * `landFirst` lets the documents reach the server before the answer is lost.
 */
function failingOnce(real: Db, landFirst: boolean): Db {
  let armed = true;
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'collection') return Reflect.get(target, prop, receiver);
      return (name: string) => {
        const coll = target.collection(name);
        if (name !== 'meter') return coll;
        return new Proxy(coll, {
          get(c, p, r) {
            if (p !== 'insertMany' || !armed) return Reflect.get(c, p, r);
            return async (docs: unknown[], opts: unknown) => {
              armed = false;
              if (landFirst) await c.insertMany(docs as never[], opts as never);
              throw new MongoBulkWriteError(new MongoNetworkError('connection 7 to 127.0.0.1:27017 closed'), { getWriteConcernError: () => undefined } as never);
            };
          },
        });
      };
    },
  });
}

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await dropDb(db);
  await client.close();
});

describe('meter insert failures that are not per-document', () => {
  it.each([
    ['before the documents reach the server', false],
    ['after the documents landed (the answer was lost)', true],
  ])('a lost connection %s fails the batch; the retry stores every sample exactly once', async (_label, landFirst) => {
    const name = iso.dbName(landFirst ? 'landed' : 'lost');
    const real = client.db(name);
    const config = testStoreConfig(name);
    await new MeterStoreWriter(real, config).prepare();
    const writer = new MeterStoreWriter(failingOnce(real, landFirst), config);
    const batch = makeSamples(12).map((s) => prepareSample(s));

    await expect(writer.writeBatch(batch)).rejects.toBeInstanceOf(StoreWriteError);
    const retry = await writer.writeBatch(batch);
    expect(retry.stored).toHaveLength(12);
    expect(retry.duplicates).toHaveLength(0);
    expect(await real.collection('meter').countDocuments()).toBe(12);
    await dropDb(real);
  });
});
