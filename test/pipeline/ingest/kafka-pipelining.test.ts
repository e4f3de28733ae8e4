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

/**
 * A consumer of its own topic and group over a real store writer: `wrap` may put a test double around
 * the writer, `ingestorOf` may build the ingestor (the real one by default). Not started.
 */
async function consumerFor(
  label: string,
  opts: { pipelineMaxBytes?: number; wrap?: (real: MeterStoreWriter) => BatchWriter; ingestorOf?: (o: ConstructorParameters<typeof Ingestor>[0]) => Ingestor } = {},
) {
  const d = client.db(iso.dbName(label));
  dbs.push(d);
  const topic = iso.topic(label);
  await ensureTopics(kafka, [topic]);
  const group = iso.groupId(label);
  const real = new MeterStoreWriter(d, testStoreConfig(d.databaseName));
  await real.prepare();
  const ingest = testIngestConfig({ telemetrySecret: SECRET, batchMaxSamples: 10 });
  const ingestorOptions = { config: ingest, writer: opts.wrap ? opts.wrap(real) : real };
  const ingestor = opts.ingestorOf ? opts.ingestorOf(ingestorOptions) : new Ingestor(ingestorOptions);
  const kafkaCfg = { brokers: kafkaBrokers(), groupId: group, topics: [topic], fromBeginning: true, fetchMaxWaitMs: 100, ...(opts.pipelineMaxBytes !== undefined ? { pipelineMaxBytes: opts.pipelineMaxBytes } : {}) };
  const consumer = new CeilometerConsumer({ kafka, config: resolveIngestionConfig({ kafka: kafkaCfg }).kafka, ingest, ingestor });
  const closing: Array<() => void> = [];
  closers.push(async () => {
    for (const c of closing) c();
    await consumer.stop();
    await ingestor.close();
  });
  const stored = () => d.collection(COLLECTIONS.meter).countDocuments();
  return { d, topic, group, consumer, stored, onClose: (c: () => void) => closing.push(c) };
}

/** A consumer whose first store write hangs until released; every later write goes straight through. */
async function stuckFirstWrite(label: string, pipelineMaxBytes: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let firstCalled = false;
  const c = await consumerFor(label, {
    pipelineMaxBytes,
    wrap: (real) => ({
      probe: () => real.probe(),
      writeBatch: async (batch) => {
        if (!firstCalled) {
          firstCalled = true;
          await released;
        }
        return real.writeBatch(batch);
      },
    }),
  });
  c.onClose(release);
  await c.consumer.start();
  return { ...c, release, firstCalled: () => firstCalled };
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

describe('Kafka consumer: a batch that cannot be handed to ingestion', () => {
  it('is not skipped: the consumer restarts from the commits, every message is stored once, and no commit passes it before it is stored', async () => {
    // the first submission fails outright (as an ingestor that is closing, or a bug, would make it);
    // the write path itself is the real one
    let failures = 0;
    class FailsOnce extends Ingestor {
      override async submit(...args: Parameters<Ingestor['submit']>): ReturnType<Ingestor['submit']> {
        if (failures === 0) {
          failures++;
          throw new Error('submission failed (test)');
        }
        return super.submit(...args);
      }
    }
    const { d, topic, group, consumer, stored } = await consumerFor('fails-once', { ingestorOf: (o) => new FailsOnce(o) });
    await publishSamples(producer, topic, makeSamples(40), 'counter', SECRET);
    await consumer.start();
    await waitFor('the failure', async () => failures === 1);
    const committedAtFailure = await committedOffset(group, topic);
    await waitFor('all 40 stored and committed after the restart', async () => (await stored()) === 40 && (await committedOffset(group, topic)) === '40', 45_000);
    expect(['-1', '']).toContain(committedAtFailure);
    expect((await d.collection(COLLECTIONS.meter).distinct('message_id')).length).toBe(40);
    expect(consumer.stats.restarts).toBe(1);
  }, 60_000);
});

describe('Kafka consumer: a commit refused', () => {
  it('(a rebalance under way, a broker away) is counted and made again (or covered by the next commit); the consumer neither stops nor restarts', async () => {
    const { topic, group, consumer, stored } = await consumerFor('commit-refused');
    await consumer.start();
    // the first commit is refused as the broker refuses one during a rebalance (KafkaJS does not retry it)
    const inner = (consumer as unknown as { consumer: { commitOffsets: (o: unknown) => Promise<void> } }).consumer;
    const commit = inner.commitOffsets.bind(inner);
    let refused = 0;
    inner.commitOffsets = async (o) => {
      if (refused++ === 0) throw new Error('The group is rebalancing, so a rejoin is needed (test)');
      return commit(o);
    };
    await publishSamples(producer, topic, makeSamples(10), 'counter', SECRET);
    await waitFor('the first batch stored', async () => (await stored()) === 10);
    // no further message comes: the refused commit is tried again (an idle partition does not stay uncommitted)
    await waitFor('the refused commit made again', async () => (await committedOffset(group, topic)) === '10', 15_000);
    await publishSamples(producer, topic, makeSamples(10), 'counter', SECRET);
    await waitFor('the second batch stored and committed', async () => (await stored()) === 20 && (await committedOffset(group, topic)) === '20', 30_000);
    expect([consumer.stats.commitFailures, consumer.stats.restarts]).toEqual([1, 0]);
  }, 60_000);
});

describe('starting a running consumer again', () => {
  it('is a no-op: one member in the group, and every message stored', async () => {
    const { topic, group, consumer, stored } = await consumerFor('twice');
    await consumer.start();
    await consumer.start();
    await publishSamples(producer, topic, makeSamples(20), 'counter', SECRET);
    await waitFor('20 stored', async () => (await stored()) === 20);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([group]);
      expect(groups[0]!.members).toHaveLength(1);
    } finally {
      await admin.disconnect();
    }
  });
});
