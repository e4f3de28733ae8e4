import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import type { Kafka, Producer } from 'kafkajs';
import { isolation } from '../../support/isolation';
import { kafkaBrokers } from '../../support/services';
import { createKafka, ensureTopics } from '../../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../../pipeline/kafka/producer';
import { CeilometerConsumer } from '../../../pipeline/kafka/consumer';
import { createIngestion, resolveIngestionConfig, type Ingestion } from '../../../pipeline/ingest/pipeline-factory';
import { Ingestor, type BatchWriter } from '../../../pipeline/ingest/ingestor';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { connect, dropDb, makeSample, makeSamples, testIngestConfig, testStoreConfig } from './helpers';

const iso = isolation(import.meta.url);
const SECRET = 'kafka-test-secret';
let client: MongoClient;
let kafka: Kafka;
let producer: Producer;
const dbs: Db[] = [];
const closers: Array<() => Promise<unknown>> = [];

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function kafkaCfg(topics: string[], group: string) {
  return resolveIngestionConfig({ kafka: { brokers: kafkaBrokers(), groupId: group, topics, fromBeginning: true, fetchMaxWaitMs: 100 } }).kafka;
}

beforeAll(async () => {
  client = await connect();
  kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
  producer = await connectProducer(kafka);
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await producer?.disconnect();
  for (const d of dbs) await dropDb(d);
  await client?.close();
});

describe('Kafka consumer', () => {
  it('consumes both Ceilometer forms (counter_* per message, oslo envelope) and dead-letters bad values with their position', async () => {
    const d = client.db(iso.dbName('forms'));
    dbs.push(d);
    const counterTopic = iso.topic('ceilometer');
    const osloTopic = `${iso.topic('metering')}.sample`;
    await ensureTopics(kafka, [counterTopic, osloTopic]);
    const counter = makeSamples(12);
    const oslo = makeSamples(30);
    const forged = makeSample();
    await publishSamples(producer, counterTopic, counter, 'counter', SECRET, ['{"not": "a sample"', JSON.stringify({ counter_name: 'cpu' })]);
    await publishSamples(producer, counterTopic, [forged], 'counter', 'some-other-secret');
    await publishSamples(producer, osloTopic, oslo, 'oslo', SECRET);

    const cfg = { store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ telemetrySecret: SECRET }), kafka: kafkaCfg([counterTopic, osloTopic], iso.groupId('forms')) };
    const ing = await createIngestion(cfg, { db: d, kafka });
    closers.push(() => ing.close());
    await waitFor('42 stored samples and 3 dead letters', async () =>
      (await d.collection(COLLECTIONS.meter).countDocuments()) >= 42 && (await d.collection(COLLECTIONS.deadLetter).countDocuments()) >= 3,
    );
    const ids = new Set(await d.collection(COLLECTIONS.meter).distinct('message_id'));
    expect(ids.size).toBe(42);
    for (const s of [...counter, ...oslo]) expect(ids.has(s.message_id)).toBe(true);
    expect(ids.has(forged.message_id)).toBe(false);

    const letters = await d.collection(COLLECTIONS.deadLetter).find().sort({ offset: 1 }).toArray();
    expect(letters).toHaveLength(3);
    for (const l of letters) {
      expect(l).toMatchObject({ source: 'kafka', topic: counterTopic, partition: 0 });
      expect(typeof l.reason).toBe('string');
    }
    expect(letters.map((l) => Number(l.offset))).toEqual([12, 13, 14]);
    expect(letters[0]!.payload).toBe('{"not": "a sample"');
    expect(letters[2]!.reason).toMatch(/signature/i);
    expect(ing.consumer!.stats.commits).toBeGreaterThan(0);
    await ing.close();
  });

  it('splits a fetched batch of large samples so that no part exceeds the in-flight byte budget', async () => {
    const d = client.db(iso.dbName('large'));
    dbs.push(d);
    const topic = iso.topic('large');
    await ensureTopics(kafka, [topic]);
    // 12 samples of ~20 kB each (240 kB) against a 64 kB in-flight budget: one chunk would be refused as
    // too large on every redelivery
    const samples = makeSamples(12, { resource_metadata: { display_name: 'big', notes: 'x'.repeat(20_000) } });
    await publishSamples(producer, topic, samples, 'counter', SECRET);
    const cfg = { store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ telemetrySecret: SECRET, maxInFlightBytes: 64 * 1024 }), kafka: kafkaCfg([topic], iso.groupId('large')) };
    const ing = await createIngestion(cfg, { db: d, kafka });
    closers.push(() => ing.close());
    await waitFor('12 large samples stored', async () => (await d.collection(COLLECTIONS.meter).countDocuments()) >= 12);
    expect(await d.collection(COLLECTIONS.meter).countDocuments()).toBe(12);
    await ing.close();
  });

  it('a consumer killed after its write but before its commit is redelivered the batch: every sample stored exactly once', async () => {
    const d = client.db(iso.dbName('kill'));
    dbs.push(d);
    const topic = iso.topic('kill');
    await ensureTopics(kafka, [topic]);
    const samples = makeSamples(60);
    await publishSamples(producer, topic, samples, 'counter', SECRET);
    const group = iso.groupId('kill');
    const store = testStoreConfig(d.databaseName);
    const ingest = testIngestConfig({ telemetrySecret: SECRET, batchMaxSamples: 25 });

    // consumer A: its first write reaches the store, then the process "dies" before answering
    const real = new MeterStoreWriter(d, store);
    await real.prepare();
    let firstWrite = 0;
    let calls = 0;
    const dying: BatchWriter = {
      probe: () => real.probe(),
      writeBatch: async (batch) => {
        if (calls++ > 0) return new Promise(() => undefined); // later writes never reach the store
        const res = await real.writeBatch(batch);
        firstWrite = res.stored.length;
        return new Promise(() => undefined); // never acknowledged
      },
    };
    const ingestorA = new Ingestor({ config: ingest, writer: dying });
    const consumerA = new CeilometerConsumer({ kafka, config: kafkaCfg([topic], group), ingest, ingestor: ingestorA });
    await consumerA.start();
    await waitFor('consumer A to write its first batch', async () => firstWrite > 0);
    expect(firstWrite).toBeGreaterThan(0);
    ingestorA.abort(new Error('simulated crash'));
    await consumerA.kill();
    expect(consumerA.stats.commits).toBe(0);

    // consumer B in the same group gets the uncommitted batch again
    let ingB: Ingestion | undefined;
    ingB = await createIngestion({ store, ingest, kafka: kafkaCfg([topic], group) }, { db: d, kafka });
    closers.push(() => ingB!.close());
    await waitFor('all 60 samples', async () => (await d.collection(COLLECTIONS.meter).countDocuments()) >= 60 && ingB!.ingestor.metrics.snapshot().metering_ingest_samples_accepted_total >= 60);
    await ingB.ingestor.flush();
    expect(await d.collection(COLLECTIONS.meter).countDocuments()).toBe(60);
    expect((await d.collection(COLLECTIONS.meter).distinct('message_id')).length).toBe(60);
    const m = ingB.ingestor.metrics.snapshot();
    expect(m.metering_ingest_samples_duplicates_total).toBe(firstWrite);
    expect(m.metering_ingest_samples_stored_total).toBe(60 - firstWrite);
    await ingB.close();
  }, 45_000);

  it('pauses the topic on ingestion back-pressure and resumes: everything stored once, offsets committed', async () => {
    const d = client.db(iso.dbName('pressure'));
    dbs.push(d);
    const topic = iso.topic('pressure');
    await ensureTopics(kafka, [topic]);
    const samples = makeSamples(60);
    await publishSamples(producer, topic, samples, 'counter', SECRET);
    const store = testStoreConfig(d.databaseName);
    const ingest = testIngestConfig({ telemetrySecret: SECRET, batchMaxSamples: 10, maxInFlightSamples: 20, maxConcurrentBatches: 1 });
    const real = new MeterStoreWriter(d, store);
    await real.prepare();
    const slow: BatchWriter = { writeBatch: async (b) => (await new Promise((r) => setTimeout(r, 100)), real.writeBatch(b)), probe: () => real.probe() };
    const ingestor = new Ingestor({ config: ingest, writer: slow });
    const consumer = new CeilometerConsumer({ kafka, config: kafkaCfg([topic], iso.groupId('pressure')), ingest, ingestor });
    await consumer.start();
    closers.push(() => consumer.stop());
    await waitFor('60 samples and a commit', async () => (await d.collection(COLLECTIONS.meter).countDocuments()) >= 60 && consumer.stats.commits > 0);
    expect(consumer.stats.pauses).toBeGreaterThan(0);
    expect(ingestor.metrics.snapshot().metering_ingest_backpressure_429_total).toBeGreaterThan(0);
    expect(ingestor.buffer.inFlightSamples).toBe(0);
    expect((await d.collection(COLLECTIONS.meter).distinct('message_id')).length).toBe(60);
    expect(await d.collection(COLLECTIONS.meter).countDocuments()).toBe(60);
    await consumer.stop();
    await ingestor.close();
  }, 30_000);
});
