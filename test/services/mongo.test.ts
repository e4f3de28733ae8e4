import { MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolation } from '../support/isolation';
import { mongoTier, mongoUri, requireRealMongo } from '../support/services';

const iso = isolation(import.meta.url);

describe(`MongoDB (${mongoTier()} tier)`, () => {
  const client = new MongoClient(mongoUri(), { serverSelectionTimeoutMS: 10_000 });
  const db = client.db(iso.dbName());
  const samples = db.collection<{ resource_id: string; meter: string; ts: string; volume: number }>('samples');

  beforeAll(async () => {
    await client.connect();
    await samples.createIndex({ resource_id: 1, meter: 1, ts: 1 }, { unique: true, name: 'sample_identity' });
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('stores documents and finds them back by query', async () => {
    await samples.insertMany([
      { resource_id: 'vm-1', meter: 'cpu_util', ts: '2024-01-01T00:00:00Z', volume: 12.5 },
      { resource_id: 'vm-1', meter: 'cpu_util', ts: '2024-01-01T00:10:00Z', volume: 40 },
      { resource_id: 'vm-2', meter: 'cpu_util', ts: '2024-01-01T00:00:00Z', volume: 3 },
    ]);
    const vm1 = await samples.find({ resource_id: 'vm-1' }, { projection: { _id: 0, volume: 1 } }).sort({ ts: 1 }).toArray();
    expect(vm1).toEqual([{ volume: 12.5 }, { volume: 40 }]);
    expect(await samples.countDocuments({ volume: { $gt: 10 } })).toBe(2);
  });

  it('rejects a second sample with the same identity with duplicate-key error 11000', async () => {
    const dup = { resource_id: 'vm-2', meter: 'cpu_util', ts: '2024-01-01T00:00:00Z', volume: 99 };
    const err = await samples.insertOne(dup).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(11000);
    // the stored sample is untouched
    expect((await samples.findOne({ resource_id: 'vm-2' }))?.volume).toBe(3);
  });

  const real = requireRealMongo('serverStatus opcounters and replica-set status (a real mongod)');
  real.it('counts operations in serverStatus opcounters and runs as a one-member replica set', async () => {
    const admin = client.db('admin');
    const before = (await admin.command({ serverStatus: 1 })).opcounters;
    await samples.insertOne({ resource_id: 'vm-3', meter: 'cpu_util', ts: '2024-01-01T00:00:00Z', volume: 1 });
    const after = (await admin.command({ serverStatus: 1 })).opcounters;
    expect(after.insert - before.insert).toBeGreaterThanOrEqual(1);
    const rs = await admin.command({ replSetGetStatus: 1 });
    expect(rs.members.filter((m: { stateStr: string }) => m.stateStr === 'PRIMARY')).toHaveLength(1);
  });
});
