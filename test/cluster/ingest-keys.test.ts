import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { isolation } from '../support/isolation';
import { kafkaBrokers } from '../support/services';
import { createKafka } from '../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../pipeline/kafka/producer';
import { DurableLog } from '../../pipeline/durable/log';
import { appendHttpBody } from '../../pipeline/durable/http';
import { parseRecord } from '../../pipeline/durable/record';
import { splitBodyByResource } from '../../pipeline/durable/keys';
import { parseHttpBody, parseKafkaValue } from '../../pipeline/ceilometer/normalize';
import { MeterMessageIntake } from '../../pipeline/listeners/intake';
import type { Ingestor } from '../../pipeline/ingest/ingestor';
import { IngestMetrics } from '../../pipeline/ingest/metrics';
import { KafkaSink } from '../../pipeline/replay/kafka-sink';
import { httpBody } from '../../pipeline/replay/encode';
import { makeSample } from '../pipeline/ingest/helpers';
import type { Sample } from '../../pipeline/sample';

/**
 * Issue 20: every producer to the ingest topic keys its messages by resource_id, so one resource's
 * stream stays on one partition of a multi-partition topic (what lets several controllers each own
 * some partitions and still see every sample of a VM). Real Kafka, a 4-partition topic.
 */
const iso = isolation(import.meta.url);
const PARTITIONS = 4;
const SECRET = 'keys-secret';
let kafka: Kafka;
let producer: Producer;
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
  producer = await connectProducer(kafka);
});
afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  await producer?.disconnect();
});

async function topicWithPartitions(label: string, suffix = ''): Promise<string> {
  const topic = iso.topic(label) + suffix;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

/** Every message of the topic: partition, key, and the resource ids of the samples its value holds. */
async function readAll(topic: string, expectSamples: number): Promise<Array<{ partition: number; key: string | null; resources: string[] }>> {
  const out: Array<{ partition: number; key: string | null; resources: string[] }> = [];
  let samples = 0;
  const consumer = kafka.consumer({ groupId: iso.groupId(topic), maxWaitTimeInMs: 100 });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${samples} of ${expectSamples} samples read from ${topic}`)), 30_000);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const parsed = parseRecord(message.value!, message.headers, { signaturePolicy: 'off' });
        const oslo = parsed.samples.length ? parsed : parseKafkaValue(message.value!, { signaturePolicy: 'off' });
        const resources = oslo.samples.map((s) => s.resource_id);
        samples += resources.length;
        out.push({ partition, key: message.key ? message.key.toString() : null, resources });
        if (samples >= expectSamples) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await done;
  return out;
}

function assertKeyedByResource(messages: Array<{ partition: number; key: string | null; resources: string[] }>, resources: number): void {
  const partitionOf = new Map<string, Set<number>>();
  for (const m of messages) {
    expect(m.resources.length).toBeGreaterThan(0);
    for (const r of m.resources) {
      expect(m.key).toBe(r); // the key is the resource of every sample in the message
      const set = partitionOf.get(r) ?? new Set<number>();
      set.add(m.partition);
      partitionOf.set(r, set);
    }
  }
  expect(partitionOf.size).toBe(resources);
  for (const [r, parts] of partitionOf) expect([r, [...parts]]).toEqual([r, [expect.any(Number)]]);
  // the resources spread over the partitions (several controllers share the work)
  expect(new Set([...partitionOf.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
}

/** 12 resources × 5 samples, interleaved as a real batch is. */
function traffic(): Sample[] {
  const out: Sample[] = [];
  for (let round = 0; round < 5; round++) for (let r = 0; r < 12; r++) out.push(makeSample({ resource_id: `vm-key-${r}` }));
  return out;
}

describe('ingest topic keyed by resource_id', () => {
  it('HTTP (acceptance log): a mixed body becomes one record per resource, original bytes and order kept, keyed by its resource_id', async () => {
    const topic = await topicWithPartitions('http');
    const samples = traffic();
    const body = Buffer.from(httpBody(samples, 'counter', SECRET));
    const parsed = parseHttpBody(body, { signaturePolicy: 'reject', secret: SECRET });
    expect(parsed.samples).toHaveLength(60);
    const log = new DurableLog(producer, topic);
    const r = await appendHttpBody(log, body, parsed, undefined);
    expect(r.accepted).toBe(60);
    const messages = await readAll(topic, 60);
    expect(messages).toHaveLength(12);
    assertKeyedByResource(messages, 12);
    // each record still verifies (signatures over the original bytes) and keeps the resource's order
    for (const part of splitBodyByResource(body)) {
      const p = parseHttpBody(part.value, { signaturePolicy: 'reject', secret: SECRET });
      expect(p.rejects).toEqual([]);
      const expected = samples.filter((s) => s.resource_id === part.key).map((s) => s.message_id);
      expect(p.samples.map((s) => s.message_id)).toEqual(expected);
    }
  });

  it('a body of one resource is appended unchanged; items naming no resource go to a record with key null', () => {
    const one = Buffer.from(httpBody([makeSample({ resource_id: 'only' }), makeSample({ resource_id: 'only' })], 'as_dict', ''));
    expect(splitBodyByResource(one)).toEqual([{ key: 'only', value: one }]);
    const mixed = Buffer.from(`[{"resource_id":"a","x":1.0},{"no":"resource"},{"resource_id":"b"},{"resource_id":"a","y":2}]`);
    expect(splitBodyByResource(mixed).map((r) => [r.key, r.value.toString()])).toEqual([
      ['a', '[{"resource_id":"a","x":1.0},{"resource_id":"a","y":2}]'],
      [null, '[{"no":"resource"}]'],
      ['b', '[{"resource_id":"b"}]'],
    ]);
    const broken = Buffer.from('[{"resource_id":');
    expect(splitBodyByResource(broken)).toEqual([{ key: null, value: broken }]);
  });

  it("the route's own parse of a body splits it as a parse of its own would (the body is not parsed twice)", () => {
    const counter = Buffer.from(httpBody(traffic(), 'counter', SECRET));
    const bodies = [
      counter,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), counter]), // a byte-order mark before the list
      Buffer.from(httpBody(traffic(), 'as_dict', '')),
      Buffer.from(`[{"resource_id":"a","x":1.0},{"no":"resource"},{"resource_id":"b","v":1e400},{"resource_id":"a","y":2}]`),
      Buffer.from(httpBody([makeSample({ resource_id: 'lone' })], 'as_dict', '').slice(1, -1)), // one object, no list
    ];
    for (const body of bodies) {
      for (const referenceReader of [false, true]) {
        const parsed = parseHttpBody(body, { signaturePolicy: 'reject', secret: SECRET, keepSource: true, referenceReader });
        expect(parsed.source, 'keepSource hands the parse over').toBeDefined();
        const alone = splitBodyByResource(body);
        expect(alone.length).toBeGreaterThan(0);
        expect(splitBodyByResource(body, parsed.source).map((r) => [r.key, r.value.toString('utf8')])).toEqual(alone.map((r) => [r.key, r.value.toString('utf8')]));
      }
    }
    // without keepSource nothing more is kept than before
    expect(parseHttpBody(counter, { signaturePolicy: 'reject', secret: SECRET }).source).toBeUndefined();
  });

  it('UDP/TCP intake (acceptance log): each meter message keyed by its resource_id', async () => {
    const topic = await topicWithPartitions('udp');
    const samples = traffic();
    // under acceptance log the intake only appends (and counts what it logged): the ingestor's metrics alone
    const metrics = new IngestMetrics(() => ({ inFlightSamples: 0, inFlightBytes: 0, storeUp: true, writeLatencyAvgMs: 0, observerFailures: 0 }));
    const intake = new MeterMessageIntake({ transport: 'udp', ingestor: { metrics } as unknown as Ingestor, log: new DurableLog(producer, topic), parseOptions: { signaturePolicy: 'off' } });
    // decoded as the listener decodes them: one Ceilometer meter message each
    const decoded = samples.map((s) => {
      const value = Buffer.from(JSON.stringify({ counter_name: s.counter_name, counter_type: s.counter_type, counter_unit: s.counter_unit, counter_volume: s.counter_volume, user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id, timestamp: s.timestamp.toISOString(), resource_metadata: s.resource_metadata, source: s.source, message_id: s.message_id, message_signature: '' }));
      return { value, samples: parseKafkaValue(value, { signaturePolicy: 'off' }).samples };
    });
    await intake.accept(decoded);
    assertKeyedByResource(await readAll(topic, 60), 12);
    expect(metrics.loggedBy.udp).toBe(60);
  });

  it('replay and the agent\'s kafka:// publisher (KafkaSink, both forms) and publishSamples key by resource_id', async () => {
    for (const form of ['counter', 'notifier'] as const) {
      // the notifier form publishes to <topic>.sample: create that one with the partitions
      const topic = await topicWithPartitions(`sink-${form}`, form === 'notifier' ? '.sample' : '');
      const sink = await KafkaSink.connect({ brokers: kafkaBrokers(), topic: form === 'notifier' ? topic.slice(0, -'.sample'.length) : topic, form, secret: SECRET, perEnvelope: 50 });
      await sink.send(traffic());
      await sink.close();
      const messages = await readAll(sink.topic, 60);
      assertKeyedByResource(messages, 12);
      expect(sink.messages).toBe(messages.length);
    }
    const topic = await topicWithPartitions('publish');
    await publishSamples(producer, topic, traffic(), 'counter', SECRET);
    assertKeyedByResource(await readAll(topic, 60), 12);
  });
});
