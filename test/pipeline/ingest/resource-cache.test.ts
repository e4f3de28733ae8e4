import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { COLLECTIONS, prepareSample, type PreparedSample, type ResourceDoc } from '../../../pipeline/store/layout';
import { ResourceTracker } from '../../../pipeline/store/resource-cache';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { NOT_YOUR_RESOURCE } from '../../../pipeline/store/ownership';
import { isolation } from '../../support/isolation';
import { connect, dropDb, makeSample, testStoreConfig } from './helpers';

const T0 = Date.UTC(2024, 0, 1);
const at = (s: number) => new Date(T0 + s * 1000);
const base = { resource_id: 'vm-1', project_id: 'p-1', user_id: 'u-1', counter_name: 'cpu_util', counter_type: 'gauge' as const, counter_unit: '%' };
const prep = (s: number, over: Parameters<typeof makeSample>[0] = {}): PreparedSample => prepareSample(makeSample({ ...base, timestamp: at(s), resource_metadata: { flavor: 'm1' }, ...over }));

describe('resource tracker (which resource upserts a batch still needs)', () => {
  it('skips samples that change nothing but last_sample_timestamp within the granularity', () => {
    const t = new ResourceTracker({ granularityMs: 600_000 });
    const first = [prep(0)];
    expect(t.due(first)).toHaveLength(1);
    t.confirm(first);
    expect(t.due([prep(300)])).toHaveLength(0); // 5 min later, same meter and metadata
    expect(t.due([prep(600)])).toHaveLength(0); // exactly the granularity
    expect(t.due([prep(601)])).toHaveLength(1); // beyond it
    expect(t.skipped).toBe(2);
  });

  it('writes at once for a new meter, newer metadata or owner, and an older first timestamp', () => {
    const t = new ResourceTracker({ granularityMs: 600_000 });
    t.confirm([prep(500), prep(1000)]);
    expect(t.due([prep(1010, { counter_name: 'memory.usage', counter_unit: 'MB' })])).toHaveLength(1);
    expect(t.due([prep(1010, { resource_metadata: { flavor: 'm2' } })])).toHaveLength(1);
    expect(t.due([prep(1010, { project_id: 'p-2' })])).toHaveLength(1);
    expect(t.due([prep(10)])).toHaveLength(1); // moves first_sample_timestamp back
    // an older sample with other metadata changes nothing (the newest sample's metadata wins)
    expect(t.due([prep(900, { resource_metadata: { flavor: 'old' } })])).toHaveLength(0);
    // but a sample of another project is always checked against the owner, late or not
    expect(t.due([prep(900, { project_id: 'p-2' })])).toHaveLength(1);
  });

  it('sends only the newest-sample update for a known resource, both steps for a new meter or another owner', () => {
    const t = new ResourceTracker({ granularityMs: 60_000 });
    t.confirm([prep(0)]);
    const later = [prep(3600)];
    expect([...t.existing(t.due(later))]).toEqual(['vm-1']);
    expect([...t.existing(t.due([prep(3600, { counter_name: 'memory', counter_unit: 'MB' })]))]).toEqual([]);
    expect([...t.existing(t.due([prep(3600, { project_id: 'p-other' })]))]).toEqual([]);
  });

  it('hands over every sample of a due resource, so the group\'s first/last/newest stay exact', () => {
    const t = new ResourceTracker();
    t.confirm([prep(0)]);
    const batch = [prep(10), prep(20, { resource_metadata: { flavor: 'm2' } }), prep(30), prep(15, { resource_id: 'vm-2' })];
    const due = t.due(batch);
    expect(due.map((p) => p.sample.timestamp.getTime() - T0)).toEqual([10_000, 20_000, 30_000, 15_000]);
  });

  it('remembers nothing until confirmed (a failed write is retried in full) and stays within its bound', () => {
    const t = new ResourceTracker({ maxResources: 2 });
    const a = [prep(0, { resource_id: 'a' })];
    expect(t.due(a)).toHaveLength(1);
    expect(t.due(a)).toHaveLength(1); // not confirmed: still due
    t.confirm(a);
    t.confirm([prep(0, { resource_id: 'b' })]);
    t.confirm([prep(0, { resource_id: 'c' })]);
    expect(t.size).toBe(2);
    expect(t.due([prep(1, { resource_id: 'a' })])).toHaveLength(1); // evicted (least recently used): written again
    expect(t.due([prep(1, { resource_id: 'c' })])).toHaveLength(0);
  });

  it('size 0 turns the cache off: every sample is due', () => {
    const t = new ResourceTracker({ maxResources: 0 });
    const a = [prep(0)];
    t.confirm(a);
    expect(t.due([prep(1)])).toHaveLength(1);
  });
});

describe('resource upserts through the writer', () => {
  const iso = isolation(import.meta.url);
  let client: MongoClient;
  const dbs: Db[] = [];
  beforeAll(async () => {
    client = await connect();
  });
  afterAll(async () => {
    for (const db of dbs) await dropDb(db);
    await client?.close();
  });

  it('a polled stream writes its resource once per granularity; the document lags by at most the granularity and ends as with every write', async () => {
    const granularity = 600;
    const results: ResourceDoc[] = [];
    const ops: number[] = [];
    for (const cacheSize of [100, 0]) {
      const db = client.db(iso.dbName(`stream-${cacheSize}`));
      dbs.push(db);
      const writer = new MeterStoreWriter(db, testStoreConfig(db.databaseName, { resourceCacheSize: cacheSize, resourceGranularitySeconds: granularity }));
      await writer.prepare();
      // 2 resources, a sample every 60 s for an hour, batches of 4; metadata changes once at 1800 s
      for (let s = 0; s <= 3600; s += 120) {
        const batch = [0, 60].flatMap((off) => ['vm-a', 'vm-b'].map((r) => prep(s + off, { resource_id: r, resource_metadata: { flavor: s + off >= 1800 ? 'm2' : 'm1' } })));
        await writer.writeBatch(batch);
        const doc = (await db.collection<ResourceDoc>(COLLECTIONS.resource).findOne({ _id: 'vm-a' }))!;
        // bounded lag: the newest stored sample is s+60; the document is at most the granularity behind
        expect(s + 60 - (doc.last_sample_timestamp.getTime() - T0) / 1000).toBeLessThanOrEqual(granularity);
        expect(doc.metadata).toEqual({ flavor: s + 60 >= 1800 ? 'm2' : 'm1' }); // metadata changes are never late
      }
      ops.push(writer.resources.skipped);
      results.push((await db.collection<ResourceDoc>(COLLECTIONS.resource).findOne({ _id: 'vm-a' }))!);
      expect(await db.collection(COLLECTIONS.meter).countDocuments()).toBe(31 * 4);
    }
    const [cached, every] = results as [ResourceDoc, ResourceDoc];
    expect(ops[0]).toBeGreaterThan(31 * 4 * 0.6); // most samples needed no resource write
    expect(ops[1]).toBe(0);
    expect(cached.first_sample_timestamp).toEqual(every.first_sample_timestamp);
    expect(cached.metadata).toEqual(every.metadata);
    expect(cached.meter).toEqual(every.meter);
    expect((every.last_sample_timestamp.getTime() - cached.last_sample_timestamp.getTime()) / 1000).toBeLessThanOrEqual(granularity);
  });

  it('a resource document removed behind the cache\'s back (TTL, an operator) is written again in full', async () => {
    const db = client.db(iso.dbName('gone'));
    dbs.push(db);
    const writer = new MeterStoreWriter(db, testStoreConfig(db.databaseName, { resourceGranularitySeconds: 60 }));
    await writer.prepare();
    await writer.writeBatch([prep(0), prep(0, { counter_name: 'memory', counter_unit: 'MB' })]);
    await db.collection(COLLECTIONS.resource).deleteOne({ _id: 'vm-1' as never });
    await writer.writeBatch([prep(3600)]); // only last_sample_timestamp moves: the cache would send the update alone
    const doc = (await db.collection<ResourceDoc>(COLLECTIONS.resource).findOne({ _id: 'vm-1' }))!;
    expect(doc).not.toBeNull();
    expect(doc.last_sample_timestamp).toEqual(at(3600));
    expect(doc.first_sample_timestamp).toEqual(at(3600));
    expect(doc.meter.map((m) => m.counter_name)).toEqual(['cpu_util']);
    expect(doc.metadata).toEqual({ flavor: 'm1' });
  });

  it("a late sample of another project for a cached resource is refused, not stored under the owner's VM", async () => {
    const db = client.db(iso.dbName('foreign-late'));
    dbs.push(db);
    const writer = new MeterStoreWriter(db, testStoreConfig(db.databaseName, { resourceGranularitySeconds: 600 }));
    await writer.prepare();
    await writer.writeBatch([prep(0), prep(1000)]);
    const late = prep(500, { project_id: 'p-intruder' }); // within the cached first/last and granularity
    const r = await writer.writeBatch([late]);
    expect(r.stored).toHaveLength(0);
    expect(r.refused.map((x) => x.reason)).toEqual([NOT_YOUR_RESOURCE]);
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ project_id: 'p-intruder' })).toBe(0);
    expect((await db.collection<ResourceDoc>(COLLECTIONS.resource).findOne({ _id: 'vm-1' }))!.project_id).toBe('p-1');
  });
});
