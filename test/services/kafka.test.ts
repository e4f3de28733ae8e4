import { Kafka, logLevel, type Consumer, type EachMessagePayload } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolation } from '../support/isolation';
import { kafkaBrokers } from '../support/services';

const iso = isolation(import.meta.url);

/** Consume with `consumer` until `count` messages arrived; resolves with their values. */
async function consumeN(consumer: Consumer, topic: string, count: number): Promise<string[]> {
  const values: string[] = [];
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${values.length}/${count} messages within 20 s`)), 20_000);
    consumer
      .run({
        autoCommit: false,
        eachMessage: async ({ message, partition, topic: t }: EachMessagePayload) => {
          values.push(message.value!.toString());
          await consumer.commitOffsets([{ topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
          if (values.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  return values;
}

describe('Kafka 3.9.1 (KRaft) with KafkaJS', () => {
  const kafka = new Kafka({ clientId: iso.id, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const topic = iso.topic('samples');
  const group = iso.groupId('store');

  beforeAll(async () => {
    await admin.connect();
    await producer.connect();
  });
  afterAll(async () => {
    await producer.disconnect();
    await admin.disconnect();
  });

  it('admin creates a topic with the requested partitions', async () => {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]!.partitions).toHaveLength(2);
  });

  it('a consumer group reads what was produced, commits offsets, and a restarted member resumes after them', async () => {
    const first = ['s1', 's2', 's3', 's4'];
    await producer.send({ topic, messages: first.map((value, i) => ({ key: `k${i}`, value })) });

    const c1 = kafka.consumer({ groupId: group });
    await c1.connect();
    const got1 = await consumeN(c1, topic, first.length);
    await c1.disconnect();
    expect([...got1].sort()).toEqual(first);

    // committed offsets of the group cover every message of both partitions
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const committed = offsets[0]!.partitions.reduce((sum, p) => sum + Number(p.offset === '-1' ? 0 : p.offset), 0);
    expect(committed).toBe(first.length);

    // a new member of the same group starts from the committed offsets: it sees only new messages
    const second = ['s5', 's6'];
    await producer.send({ topic, messages: second.map((value) => ({ value })) });
    const c2 = kafka.consumer({ groupId: group });
    await c2.connect();
    const got2 = await consumeN(c2, topic, second.length);
    await c2.disconnect();
    expect([...got2].sort()).toEqual(second);
  });
});
