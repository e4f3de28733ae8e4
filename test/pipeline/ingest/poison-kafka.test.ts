import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import type { Kafka, Producer } from 'kafkajs';
import { isolation } from '../../support/isolation';
import { kafkaBrokers } from '../../support/services';
import { createKafka, ensureTopics } from '../../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../../pipeline/kafka/producer';
import { createIngestion, resolveIngestionConfig } from '../../../pipeline/ingest/pipeline-factory';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { connect, dropDb, makeSample, makeSamples, testIngestConfig, testStoreConfig } from './helpers';

/**
 * Issue 10, finding 1 on Kafka: a message whose sample has a NUL in a metadata key used to be refused
 * by the store five times, leave the store reading as down, and stop every later message. Now it is
 * refused by validation, dead-lettered at its position, and the 100 valid messages after it are stored.
 */

const iso = isolation(import.meta.url);
const SECRET = 'kafka-poison-secret';
let client: MongoClient;
let kafka: Kafka;
let producer: Producer;
const dbs: Db[] = [];

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
  await producer?.disconnect();
  for (const d of dbs) await dropDb(d);
  await client?.close();
});

describe('a poison message on Kafka', () => {
  it('is dead-lettered at its position; the 100 valid messages after it are all stored, once; the store never reads as down', async () => {
    const d = client.db(iso.dbName('nul'));
    dbs.push(d);
    const topic = iso.topic('ceilometer');
    await ensureTopics(kafka, [topic]);
    const before = makeSamples(3);
    const poison = makeSample({ resource_metadata: { 'k\u0000': 'v' } });
    const after = makeSamples(100);
    await publishSamples(producer, topic, before, 'counter', SECRET);
    await publishSamples(producer, topic, [poison], 'counter', SECRET);
    await publishSamples(producer, topic, after, 'counter', SECRET);

    const cfg = {
      store: testStoreConfig(d.databaseName),
      ingest: testIngestConfig({ telemetrySecret: SECRET }),
      kafka: resolveIngestionConfig({ kafka: { brokers: kafkaBrokers(), groupId: iso.groupId('nul'), topics: [topic], fromBeginning: true, fetchMaxWaitMs: 100 } }).kafka,
    };
    const ing = await createIngestion(cfg, { db: d, kafka });
    try {
      await waitFor('103 stored samples and 1 dead letter', async () =>
        (await d.collection(COLLECTIONS.meter).countDocuments()) >= 103 && (await d.collection(COLLECTIONS.deadLetter).countDocuments()) >= 1,
      );
      const ids = await d.collection(COLLECTIONS.meter).distinct('message_id');
      expect(ids).toHaveLength(103);
      expect(ids).not.toContain(poison.message_id);
      const letters = await d.collection(COLLECTIONS.deadLetter).find().toArray();
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ source: 'kafka', topic, offset: '3', message_id: poison.message_id });
      expect(letters[0]!.reason).toMatch(/NUL character/);
      expect(ing.ingestor.health.down).toBe(false);
      expect(ing.ingestor.refusing()).toBeUndefined();
      expect(ing.consumer!.stats.pauses).toBe(0);
    } finally {
      await ing.close();
    }
  });

  it('first and last in a fetched batch, and alone on a topic: each dead-lettered at its offset, the valid ones stored once, the offsets committed past them', async () => {
    const d = client.db(iso.dbName('edges'));
    dbs.push(d);
    const [batchTopic, loneTopic] = [iso.topic('edges'), iso.topic('lone')];
    await ensureTopics(kafka, [batchTopic, loneTopic]);
    const nul = () => makeSample({ resource_metadata: { 'k\u0000': 'v' } });
    const [first, last, lone] = [nul(), nul(), nul()];
    const valid = makeSamples(5);
    // one send: the five valid messages between two poison ones, fetched as one batch
    await publishSamples(producer, batchTopic, [first, ...valid, last], 'counter', SECRET);
    await publishSamples(producer, loneTopic, [lone], 'counter', SECRET);

    const groupId = iso.groupId('edges');
    const cfg = {
      store: testStoreConfig(d.databaseName),
      ingest: testIngestConfig({ telemetrySecret: SECRET }),
      kafka: resolveIngestionConfig({ kafka: { brokers: kafkaBrokers(), groupId, topics: [batchTopic, loneTopic], fromBeginning: true, fetchMaxWaitMs: 100 } }).kafka,
    };
    const ing = await createIngestion(cfg, { db: d, kafka });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const committed = async (topic: string) => Number((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions[0]!.offset);
      await waitFor('3 dead letters, 5 stored, both topics committed to their ends', async () =>
        (await d.collection(COLLECTIONS.deadLetter).countDocuments()) === 3 && (await d.collection(COLLECTIONS.meter).countDocuments()) === 5 && (await committed(batchTopic)) === 7 && (await committed(loneTopic)) === 1,
      );
      expect(new Set(await d.collection(COLLECTIONS.meter).distinct('message_id'))).toEqual(new Set(valid.map((v) => v.message_id)));
      const letters = await d.collection(COLLECTIONS.deadLetter).find({}, { projection: { _id: 0, topic: 1, offset: 1, message_id: 1, reason: 1 } }).toArray();
      expect(letters.map((l) => [l.topic, l.offset, l.message_id]).sort()).toEqual(
        [[batchTopic, '0', first.message_id], [batchTopic, '6', last.message_id], [loneTopic, '0', lone.message_id]].sort(),
      );
      for (const l of letters) expect(l.reason).toMatch(/NUL character/);
      expect(ing.ingestor.health.down).toBe(false);
    } finally {
      await admin.disconnect();
      await ing.close();
    }
  });
});
