import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BSON, type Db, type MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { mongoUri } from '../../support/services';
import { createIngestion } from '../../../pipeline/ingest/pipeline-factory';
import { Ingestor, type BatchWriter } from '../../../pipeline/ingest/ingestor';
import { BackpressureError, SubmissionTooLargeError } from '../../../pipeline/ingest/backpressure';
import { MongoDeadLetterSink } from '../../../pipeline/ingest/dead-letter';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { parseHttpBody } from '../../../pipeline/ceilometer/normalize';
import type { StoredSample } from '../../../pipeline/sample';
import { connect, CuttableProxy, dropDb, makeSamples, testIngestConfig, testStoreConfig } from './helpers';

const iso = isolation(import.meta.url);
let client: MongoClient;
const dbs: Db[] = [];
const closers: Array<() => Promise<unknown>> = [];

function db(label: string): Db {
  const d = client.db(iso.dbName(label));
  dbs.push(d);
  return d;
}

beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  for (const c of closers) await c().catch(() => undefined);
  for (const d of dbs) await dropDb(d);
  await client?.close();
});

describe('Ingestor', () => {
  it('batches concurrent submitters and resolves each only after its samples are in the store', async () => {
    const d = db('batching');
    const ing = await createIngestion({ store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ batchMaxSamples: 50, batchMaxAgeMs: 50 }) }, { db: d });
    const submissions = Array.from({ length: 10 }, () => makeSamples(20));
    const results = await Promise.all(
      submissions.map(async (samples) => {
        const r = await ing.ingestor.submit(samples);
        // durable at resolution: every sample of this submission can be read back now
        const found = await d.collection(COLLECTIONS.meter).countDocuments({ message_id: { $in: samples.map((s) => s.message_id) } });
        return { r, found };
      }),
    );
    for (const { r, found } of results) {
      expect(r).toEqual({ accepted: 20, stored: 20, duplicates: 0, rejected: 0, deadLettered: 0, refusals: [] });
      expect(found).toBe(20);
    }
    const m = ing.ingestor.metrics.snapshot();
    expect(m.metering_ingest_samples_stored_total).toBe(200);
    expect(m.metering_ingest_batches_total).toBeLessThanOrEqual(6); // 200 samples in batches of up to 50, not 10 writes of 20
    expect(m.metering_ingest_inflight_samples).toBe(0);
    await ing.close();
  });

  it('hands every stored sample (with its BSON size) to the observers once; duplicates and a throwing observer do not', async () => {
    const d = db('observers');
    const ing = await createIngestion({ store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ batchMaxSamples: 7 }) }, { db: d });
    const seen: StoredSample[] = [];
    ing.hub.register({ name: 'broken', onStored: () => { throw new Error('observer bug'); } });
    ing.hub.register({ name: 'collector', onStored: (batch) => void seen.push(...batch) });
    const samples = makeSamples(25);
    const first = await ing.ingestor.submit(samples);
    expect(first.stored).toBe(25);
    const again = await ing.ingestor.submit(samples.slice(0, 10));
    expect(again).toMatchObject({ stored: 0, duplicates: 10 });

    expect(seen.map((s) => s.message_id).sort()).toEqual(samples.map((s) => s.message_id).sort());
    const docs = await d.collection(COLLECTIONS.meter).find().toArray();
    const sizeById = new Map(docs.map((doc) => [doc.message_id as string, BSON.calculateObjectSize(doc)]));
    for (const s of seen) {
      expect(s.bson_size).toBe(sizeById.get(s.message_id));
      expect(s.recorded_at).toBeInstanceOf(Date);
    }
    expect(ing.hub.failureCounts()).toEqual({ broken: Math.ceil(25 / 7) }); // once per batch that stored something
    const m = ing.ingestor.metrics.snapshot();
    expect(m.metering_ingest_samples_duplicates_total).toBe(10);
    expect(m.metering_ingest_observer_failures_total).toBe(ing.hub.totalFailures);
    await ing.close();
  });

  it('dead-letters invalid samples with reason and payload while storing their valid neighbours', async () => {
    const d = db('deadletter');
    const ing = await createIngestion({ store: testStoreConfig(d.databaseName), ingest: testIngestConfig() }, { db: d });
    const valid = (id: string) => ({ name: 'cpu', type: 'cumulative', unit: 'ns', volume: 1, user_id: 'u', project_id: 'p', resource_id: 'r-1', timestamp: '2024-05-01T12:00:00', resource_metadata: {}, source: 'openstack', id });
    const body = JSON.stringify([valid('11111111-0000-0000-0000-000000000001'), { ...valid('bad-1'), type: 'sideways' }, valid('11111111-0000-0000-0000-000000000002'), { name: 'cpu' }]);
    const parsed = parseHttpBody(body);
    expect(parsed.samples).toHaveLength(2);
    expect(parsed.rejects).toHaveLength(2);
    const r = await ing.ingestor.submit(parsed.samples, parsed.rejects);
    expect(r).toMatchObject({ accepted: 2, stored: 2, rejected: 2, deadLettered: 2 });
    expect(await d.collection(COLLECTIONS.meter).countDocuments()).toBe(2);
    const letters = await d.collection(COLLECTIONS.deadLetter).find().sort({ index: 1 }).toArray();
    expect(letters.map((l) => [l.source, l.index])).toEqual([['http', 1], ['http', 3]]);
    expect(letters[0]!.reason).toMatch(/type/);
    expect(JSON.parse(letters[0]!.payload as string)).toMatchObject({ type: 'sideways', id: 'bad-1' });
    expect(letters[0]!.received_at).toBeInstanceOf(Date);
    expect(ing.ingestor.metrics.snapshot().metering_ingest_samples_dead_lettered_total).toBe(2);
    await ing.close();
  });

  it('answers 429 at once when the in-flight buffer is full, 413 for a submission that can never fit, and keeps what it accepted', async () => {
    const d = db('full');
    const real = new MeterStoreWriter(d, testStoreConfig(d.databaseName));
    await real.prepare();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held: BatchWriter = { writeBatch: async (b) => (await gate, real.writeBatch(b)), probe: () => real.probe() };
    const ingestor = new Ingestor({ config: testIngestConfig({ maxInFlightSamples: 50, batchMaxSamples: 10 }), writer: held, deadLetters: new MongoDeadLetterSink(d, real.writeConcern) });
    const accepted = ingestor.submit(makeSamples(40));
    const refused = await ingestor.submit(makeSamples(20)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackpressureError);
    expect((refused as BackpressureError).status).toBe(429);
    expect((refused as BackpressureError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await expect(ingestor.submit(makeSamples(51))).rejects.toBeInstanceOf(SubmissionTooLargeError);
    expect(ingestor.buffer.inFlightSamples).toBe(40);
    release();
    expect((await accepted).stored).toBe(40);
    expect(await d.collection(COLLECTIONS.meter).countDocuments()).toBe(40);
    expect(ingestor.metrics.snapshot().metering_ingest_backpressure_429_total).toBe(1);
    await ingestor.close();
  });

  it('during a store outage accepts up to its buffer, then answers 503; after recovery everything accepted is stored exactly once', async () => {
    const d = db('outage');
    const proxy = CuttableProxy.forUri(mongoUri());
    await proxy.up();
    closers.push(() => proxy.down());
    const viaProxy = await connect(proxy.uri(), 400);
    closers.push(() => viaProxy.close());
    const pdb = viaProxy.db(d.databaseName);
    const ing = await createIngestion(
      { store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ storeDownAfterFailures: 2, retryInitialMs: 50, retryMaxMs: 300, batchMaxSamples: 20 }) },
      { db: pdb },
    );
    const before = makeSamples(20);
    expect((await ing.ingestor.submit(before)).stored).toBe(20);

    await proxy.down();
    const duringOutage = makeSamples(30);
    const pending = ing.ingestor.submit(duringOutage); // accepted into the buffer; its writes fail and are retried
    // the retried writes keep failing until the store counts as down
    for (let i = 0; i < 100 && ing.ingestor.metrics.snapshot().metering_ingest_store_up === 1; i++) await new Promise((r) => setTimeout(r, 100));
    const refusal = await ing.ingestor.submit(makeSamples(1)).then(() => undefined, (e: unknown) => e);
    expect(refusal).toBeInstanceOf(BackpressureError);
    expect((refusal as BackpressureError).status).toBe(503);
    expect(ing.ingestor.metrics.snapshot().metering_ingest_store_up).toBe(0);

    await proxy.up();
    const result = await pending;
    expect(result.stored + result.duplicates).toBe(30);
    const after = makeSamples(10);
    expect((await ing.ingestor.submit(after)).stored).toBe(10);

    const all = [...before, ...duringOutage, ...after].map((s) => s.message_id);
    expect(await d.collection(COLLECTIONS.meter).countDocuments({ message_id: { $in: all } })).toBe(60);
    const ids = await d.collection(COLLECTIONS.meter).distinct('message_id');
    expect(ids.length).toBe(await d.collection(COLLECTIONS.meter).countDocuments());
    const m = ing.ingestor.metrics.snapshot();
    expect(m.metering_ingest_batch_failures_total).toBeGreaterThanOrEqual(2);
    expect(m.metering_ingest_store_up).toBe(1);
    await ing.close();
  }, 30_000);
});
