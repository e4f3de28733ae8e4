import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import type { Kafka, Producer } from 'kafkajs';
import { isolation } from '../../support/isolation';
import { kafkaBrokers } from '../../support/services';
import { createKafka, ensureTopics } from '../../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../../pipeline/kafka/producer';
import { CeilometerConsumer } from '../../../pipeline/kafka/consumer';
import { resolveIngestionConfig } from '../../../pipeline/ingest/pipeline-factory';
import { Ingestor, type BatchWriter } from '../../../pipeline/ingest/ingestor';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { connect, dropDb, makeSamples, testIngestConfig, testStoreConfig } from './helpers';

/**
 * Kafka consumer pipelining: the next batch is fetched, parsed and written while an earlier one is still
 * being written, offsets are committed in order and only after the durable write, and the batches in
 * hand are bounded by kafka.pipelineMaxBytes.
 */

const iso = isolation(import.meta.url);
const SECRET = 'pipelining-secret';
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

async function committedOffset(group: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return t!.partitions[0]!.offset;
  } finally {
    await admin.disconnect();
  }
}

/** A consumer whose first store write hangs until released; every later write goes straight through. */
async function stuckFirstWrite(label: string, pipelineMaxBytes: number) {
  const d = client.db(iso.dbName(label));
  dbs.push(d);
  const topic = iso.topic(label);
  await ensureTopics(kafka, [topic]);
  const group = iso.groupId(label);
  const real = new MeterStoreWriter(d, testStoreConfig(d.databaseName));
  await real.prepare();
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let firstCalled = false;
  const writer: BatchWriter = {
    probe: () => real.probe(),
    writeBatch: async (batch) => {
      if (!firstCalled) {
        firstCalled = true;
        await released;
      }
      return real.writeBatch(batch);
    },
  };
  const ingest = testIngestConfig({ telemetrySecret: SECRET, batchMaxSamples: 10 });
  const ingestor = new Ingestor({ config: ingest, writer });
  const config = resolveIngestionConfig({ kafka: { brokers: kafkaBrokers(), groupId: group, topics: [topic], fromBeginning: true, fetchMaxWaitMs: 100, pipelineMaxBytes } }).kafka;
  const consumer = new CeilometerConsumer({ kafka, config, ingest, ingestor });
  await consumer.start();
  closers.push(async () => {
    release();
    await consumer.stop();
    await ingestor.close();
  });
  const stored = () => d.collection(COLLECTIONS.meter).countDocuments();
  return { d, topic, group, consumer, release, stored, firstCalled: () => firstCalled };
}

describe('Kafka consumer pipelining', () => {
  it('writes later batches while an earlier one is stuck, but commits nothing past it until it is durable', async () => {
    const c = await stuckFirstWrite('pipe', 16 * 1024 * 1024);
    await publishSamples(producer, c.topic, makeSamples(10), 'counter', SECRET);
    await waitFor('the first write to start', async () => c.firstCalled());
    await publishSamples(producer, c.topic, makeSamples(30), 'counter', SECRET);
    await waitFor('the later 30 samples stored while the first batch hangs', async () => (await c.stored()) >= 30);
    expect(c.consumer.stats.commits).toBe(0);
    expect(['-1', '']).toContain(await committedOffset(c.group, c.topic)); // nothing committed past the stuck batch
    c.release();
    await waitFor('all 40 stored and committed', async () => (await c.stored()) === 40 && (await committedOffset(c.group, c.topic)) === '40');
    expect((await c.d.collection(COLLECTIONS.meter).distinct('message_id')).length).toBe(40);
  }, 45_000);

  it('pipelineMaxBytes 0 holds one batch at a time: nothing after a stuck batch is taken in', async () => {
    const c = await stuckFirstWrite('serial', 0);
    await publishSamples(producer, c.topic, makeSamples(10), 'counter', SECRET);
    await waitFor('the first write to start', async () => c.firstCalled());
    await publishSamples(producer, c.topic, makeSamples(30), 'counter', SECRET);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await c.stored()).toBe(0);
    c.release();
    await waitFor('all 40 stored and committed', async () => (await c.stored()) === 40 && (await committedOffset(c.group, c.topic)) === '40');
  }, 45_000);
});
