import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { Ingestor, type BatchWriter } from '../../../pipeline/ingest/ingestor';
import { MongoDeadLetterSink } from '../../../pipeline/ingest/dead-letter';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { isolation } from '../../support/isolation';
import { CuttableProxy, connect, dropDb, makeSample, makeSamples, testIngestConfig, testStoreConfig } from './helpers';
import { createIngestion } from '../../../pipeline/ingest/pipeline-factory';
import { BackpressureError } from '../../../pipeline/ingest/backpressure';
import { mongoUri } from '../../support/services';

const iso = isolation(import.meta.url);
let client: MongoClient;
const dbs: Db[] = [];

beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  for (const d of dbs) await dropDb(d);
  await client.close();
});

async function setup(label: string, storeUp: () => boolean) {
  const db = client.db(iso.dbName(label));
  dbs.push(db);
  const real = new MeterStoreWriter(db, testStoreConfig(db.databaseName));
  await real.prepare();
  let writes = 0;
  // The real writer, except that any batch holding the poison sample fails (a document the store
  // keeps refusing with an error it does not attribute to one document), and an outage fails everything.
  const writer: BatchWriter = {
    writeBatch: async (batch) => {
      writes++;
      if (!storeUp()) throw new Error('connection refused');
      if (batch.some((p) => p.sample.resource_id === 'poison')) throw new Error('WriteConflict: refused every time');
      return real.writeBatch(batch);
    },
    probe: async () => {
      if (!storeUp()) throw new Error('connection refused');
      await real.probe();
    },
  };
  const ingestor = new Ingestor({
    config: testIngestConfig({ batchMaxSamples: 16, isolateAfterFailures: 2, retryInitialMs: 5, retryMaxMs: 20 }),
    writer,
    deadLetters: new MongoDeadLetterSink(db, real.writeConcern),
  });
  return { db, ingestor, writes: () => writes };
}

describe('a sample the store keeps refusing', () => {
  it('is found by splitting the batch and dead-lettered with the reason; its neighbours are stored', async () => {
    const { db, ingestor } = await setup('poison', () => true);
    const samples = [...makeSamples(7), makeSample({ resource_id: 'poison' }), ...makeSamples(8)];
    const r = await ingestor.submit(samples);
    expect(r).toMatchObject({ accepted: 15, stored: 15, rejected: 1, deadLettered: 1 });
    expect(await db.collection('meter').countDocuments()).toBe(15);
    const dead = await db.collection('dead_letter').find().toArray();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/refused this sample \d+ times while taking other writes: WriteConflict/);
    expect(dead[0]!.index).toBe(7);
    await ingestor.close();
  });

  it('never makes the store read as down (issue 10, finding 1): later submissions are taken, alone or amid a batch', async () => {
    const { db, ingestor } = await setup('health', () => true);
    // alone
    const alone = await ingestor.submit([makeSample({ resource_id: 'poison' })]);
    expect(alone).toMatchObject({ accepted: 0, stored: 0, rejected: 1, deadLettered: 1 });
    expect(ingestor.health.down).toBe(false);
    expect(ingestor.health.consecutiveFailures).toBe(0);
    expect(ingestor.refusing()).toBeUndefined();
    // first and last in a batch, while another submission runs beside it
    const samples = [makeSample({ resource_id: 'poison' }), ...makeSamples(20), makeSample({ resource_id: 'poison' })];
    const [mixed, beside] = await Promise.all([ingestor.submit(samples), ingestor.submit(makeSamples(30))]);
    expect(mixed).toMatchObject({ stored: 20, rejected: 2 });
    expect(beside).toMatchObject({ stored: 30, rejected: 0 });
    expect(mixed.refusals.map((r) => r.index).sort((a, b) => a - b)).toEqual([0, 21]);
    // every later submission is taken (no 503 store-down)
    for (let i = 0; i < 5; i++) expect(await ingestor.submit(makeSamples(10))).toMatchObject({ stored: 10 });
    expect(ingestor.health.down).toBe(false);
    expect(await db.collection('meter').countDocuments()).toBe(100);
    await ingestor.close();
  });

  it('during an outage nothing is split or dropped: the batch waits whole and is stored once the store is back', async () => {
    let up = false;
    const { db, ingestor, writes } = await setup('outage', () => up);
    const pending = ingestor.submit(makeSamples(12));
    while (writes() < 6) await new Promise((r) => setTimeout(r, 10)); // several isolation rounds pass
    up = true;
    expect(await pending).toMatchObject({ stored: 12, rejected: 0 });
    expect(await db.collection('dead_letter').countDocuments()).toBe(0);
    await ingestor.close();
  });
});

describe('shutting down while the store is down', () => {
  it('gives up after ingest.shutdownGraceMs: the pending submission gets 503 (to resend) and close returns', async () => {
    const proxy = CuttableProxy.forUri(mongoUri());
    await proxy.up();
    const viaProxy = await connect(proxy.uri());
    const db = viaProxy.db(iso.dbName('shutdown'));
    dbs.push(client.db(db.databaseName));
    const ingestion = await createIngestion(
      { store: testStoreConfig(db.databaseName, { uri: proxy.uri() }), ingest: testIngestConfig({ shutdownGraceMs: 300 }) },
      { db },
    );
    await proxy.down();
    const pending = ingestion.ingestor.submit(makeSamples(5)).catch((e: unknown) => e);
    const t0 = Date.now();
    await ingestion.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const err = await pending;
    expect(err).toBeInstanceOf(BackpressureError);
    expect((err as BackpressureError).status).toBe(503);
    await viaProxy.close(true);
  });
});
