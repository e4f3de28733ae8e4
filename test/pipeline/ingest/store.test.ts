import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { mongoTier } from '../../support/services';
import { MeterStoreWriter, StoreConfigError, checkWriteConcern, topologyOf } from '../../../pipeline/store/writer';
import { prepareSample, METER_FIELDS, COLLECTIONS, type MeterDoc, type ResourceDoc } from '../../../pipeline/store/layout';
import { UNIQUE_MESSAGE_INDEX } from '../../../pipeline/store/indexes';
import { connect, dropDb, makeSample, makeSamples, testStoreConfig } from './helpers';

const iso = isolation(import.meta.url);
let client: MongoClient;
const dbs: Db[] = [];

async function freshWriter(label: string, over: Parameters<typeof testStoreConfig>[1] = {}) {
  const name = iso.dbName(label);
  const db = client.db(name);
  dbs.push(db);
  const writer = new MeterStoreWriter(db, testStoreConfig(name, over));
  const prep = await writer.prepare();
  return { db, writer, prep };
}

beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  for (const db of dbs) await dropDb(db);
  await client?.close();
});

describe('meter store writer', () => {
  it('stores a batch once; a redelivered batch is counted as duplicates, not stored again', async () => {
    const { db, writer } = await freshWriter('dup');
    const samples = makeSamples(30);
    const first = await writer.writeBatch(samples.map((s) => prepareSample(s)));
    expect(first.stored).toHaveLength(30);
    expect(first.duplicates).toHaveLength(0);

    // redelivery: the same 30 samples (fresh documents, as a restarted consumer would build) + 10 new ones
    const more = makeSamples(10);
    const second = await writer.writeBatch([...samples, ...more].map((s) => prepareSample(s)));
    expect(second.duplicates.map((p) => p.sample.message_id).sort()).toEqual(samples.map((s) => s.message_id).sort());
    expect(second.stored.map((p) => p.sample.message_id).sort()).toEqual(more.map((s) => s.message_id).sort());
    expect(await db.collection(COLLECTIONS.meter).countDocuments()).toBe(40);
  });

  it('counts a retried document whose first insert landed (answer lost) as stored, not as a duplicate', async () => {
    const { db, writer } = await freshWriter('lost-answer');
    const prepared = makeSamples(5).map((s) => prepareSample(s));
    await writer.writeBatch(prepared.slice(0, 3)); // landed, but pretend the caller never heard back
    const retry = await writer.writeBatch(prepared); // the same documents (same _id) retried with two more
    expect(retry.stored).toHaveLength(5);
    expect(retry.duplicates).toHaveLength(0);
    expect(await db.collection(COLLECTIONS.meter).countDocuments()).toBe(5);
  });

  it('writes meter documents with exactly Ceilometer\'s fields, Date timestamps and escaped metadata keys', async () => {
    const { db, writer } = await freshWriter('layout');
    const s = makeSample({ resource_metadata: { 'a.b': 1, $weird: 'x', nested: { 'c.d': true } }, signature_invalid: true, message_signature: 'abc' });
    const res = await writer.writeBatch([prepareSample(s)]);
    const doc = (await db.collection<MeterDoc>(COLLECTIONS.meter).findOne({ message_id: s.message_id }))!;
    const { _id, ...rest } = doc;
    expect(_id).toBeDefined();
    expect(Object.keys(rest).sort()).toEqual([...METER_FIELDS].sort());
    expect(rest.timestamp).toBeInstanceOf(Date);
    expect(rest.timestamp.getTime()).toBe(s.timestamp.getTime());
    expect(rest.recorded_at).toBeInstanceOf(Date);
    expect(rest.resource_metadata).toEqual({ a: { b: 1 }, '%24weird': 'x', nested: { c: { d: true } } });
    // the flag lives outside `meter`, so a Ceilometer reader's Sample(**doc) still works
    const flag = await db.collection(COLLECTIONS.meterFlags).findOne({ _id: s.message_id as never });
    expect(flag?.signature_invalid).toBe(true);
    expect(res.stored[0]!.bsonSize).toBeGreaterThan(200);
  });

  it('upserts resources as Ceilometer did: first/last timestamps, meter set, newest metadata wins', async () => {
    const { db, writer } = await freshWriter('resource');
    const t = (min: number) => new Date(Date.UTC(2024, 0, 1, 0, min));
    const base = { resource_id: 'vm-r', project_id: 'p-1', user_id: 'u-1' };
    await writer.writeBatch(
      [
        makeSample({ ...base, timestamp: t(10), counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns', resource_metadata: { v: 10 } }),
        makeSample({ ...base, timestamp: t(20), counter_name: 'memory.usage', counter_unit: 'MB', resource_metadata: { v: 20 } }),
      ].map((s) => prepareSample(s)),
    );
    // a later batch: an older sample (lowers first, must not roll metadata back), a newer one (moves last + metadata), a repeated meter
    await writer.writeBatch(
      [
        makeSample({ ...base, timestamp: t(5), counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns', resource_metadata: { v: 5 } }),
        makeSample({ ...base, timestamp: t(30), counter_name: 'disk.read.bytes', counter_type: 'cumulative', counter_unit: 'B', resource_metadata: { v: 30, 'x.y': 1 } }),
      ].map((s) => prepareSample(s)),
    );
    // an out-of-order older batch alone: neither last nor metadata move
    await writer.writeBatch([prepareSample(makeSample({ ...base, timestamp: t(15), resource_metadata: { v: 15 } }))]);

    const r = (await db.collection<ResourceDoc>(COLLECTIONS.resource).findOne({ _id: 'vm-r' }))!;
    expect(r.first_sample_timestamp.getTime()).toBe(t(5).getTime());
    expect(r.last_sample_timestamp.getTime()).toBe(t(30).getTime());
    expect(r.metadata).toEqual({ v: 30, x: { y: 1 } });
    expect(r.project_id).toBe('p-1');
    expect(r.source).toBe('openstack');
    expect(r.meter.map((m) => m.counter_name).sort()).toEqual(['cpu', 'cpu_util', 'disk.read.bytes', 'memory.usage']);
    expect(r.meter).toContainEqual({ counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' });
    expect(r.meter.filter((m) => m.counter_name === 'cpu')).toHaveLength(1);
  });

  it('creates Ceilometer\'s indexes plus the unique message-id index (plain when unsharded)', async () => {
    const { db, prep } = await freshWriter('idx');
    const meter = await db.collection(COLLECTIONS.meter).listIndexes().toArray();
    const byName = Object.fromEntries(meter.map((ix) => [ix.name, ix]));
    expect(byName.meter_idx?.key).toEqual({ resource_id: 1, user_id: 1, counter_name: 1, timestamp: 1 });
    expect(byName.meter_project_idx?.key).toEqual({ resource_id: 1, project_id: 1, counter_name: 1, timestamp: 1 });
    expect(byName.timestamp_idx?.key).toEqual({ timestamp: -1 });
    expect(byName[UNIQUE_MESSAGE_INDEX]?.key).toEqual({ project_id: 1, message_id: 1 });
    expect(byName[UNIQUE_MESSAGE_INDEX]?.unique).toBe(true);
    expect(byName.meter_ttl).toBeUndefined();
    const resource = await db.collection(COLLECTIONS.resource).listIndexes().toArray();
    expect(resource.map((ix) => ix.name)).toEqual(expect.arrayContaining(['resource_user_project_timestamp', 'last_sample_timestamp_idx']));
    expect(prep.indexes.created.length).toBeGreaterThan(5);
  });

  it('derives the unique index from the shard key when sharded, still rejecting a redelivered sample', async () => {
    const { db, writer } = await freshWriter('sharded', { sharded: true });
    const ix = (await db.collection(COLLECTIONS.meter).listIndexes().toArray()).find((i) => i.name === UNIQUE_MESSAGE_INDEX);
    expect(ix?.key).toEqual({ resource_id: 1, timestamp: 1, message_id: 1 });
    expect(ix?.unique).toBe(true);
    const s = makeSample();
    await writer.writeBatch([prepareSample(s)]);
    const again = await writer.writeBatch([prepareSample({ ...s })]);
    expect(again.duplicates).toHaveLength(1);
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ message_id: s.message_id })).toBe(1);
  });

  it('adds, then drops, the TTL indexes as store.ttlSeconds changes (-1 keeps forever)', async () => {
    const { db, prep } = await freshWriter('ttl', { ttlSeconds: 3600 });
    expect(prep.indexes.created).toEqual(expect.arrayContaining(['meter.meter_ttl', 'resource.resource_ttl']));
    const ttl = (await db.collection(COLLECTIONS.meter).listIndexes().toArray()).find((i) => i.name === 'meter_ttl');
    expect(ttl?.expireAfterSeconds).toBe(3600);
    const again = new MeterStoreWriter(db, testStoreConfig(db.databaseName, { ttlSeconds: 7200 }));
    expect((await again.prepare()).indexes.changed).toContain('meter.meter_ttl');
    const ttl2 = (await db.collection(COLLECTIONS.meter).listIndexes().toArray()).find((i) => i.name === 'meter_ttl');
    expect(ttl2?.expireAfterSeconds).toBe(7200);
    const forever = new MeterStoreWriter(db, testStoreConfig(db.databaseName, { ttlSeconds: -1 }));
    expect((await forever.prepare()).indexes.dropped).toEqual(['meter.meter_ttl', 'resource.resource_ttl']);
  });

  it('refuses majority write concern on a standalone server unless set explicitly', async () => {
    const hello = await client.db('admin').command({ isMaster: 1 });
    const topology = topologyOf(hello);
    if (mongoTier() === 'standin') expect(topology.kind).toBe('standalone');
    if (topology.kind === 'standalone') {
      const name = iso.dbName('wc');
      const writer = new MeterStoreWriter(client.db(name), testStoreConfig(name, { writeConcern: 'majority' }));
      await expect(writer.prepare()).rejects.toThrow(/store\.writeConcern.*standalone/);
    } else {
      expect(() => checkWriteConcern({ writeConcern: 'majority' }, topology, 'x')).not.toThrow();
    }
    expect(() => checkWriteConcern({ writeConcern: 'majority' }, { kind: 'standalone' }, 'x')).toThrow(StoreConfigError);
    expect(() => checkWriteConcern({ writeConcern: 1 }, { kind: 'standalone' }, 'x')).not.toThrow();
  });
});
