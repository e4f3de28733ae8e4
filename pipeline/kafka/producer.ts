import type { Kafka, Producer } from 'kafkajs';
import { signSample } from '../ceilometer/sign';
import type { Sample } from '../sample';

/**
 * Producing Ceilometer traffic to Kafka (tests, the demo, the benchmark), in the two forms the
 * consumer takes:
 *  - `counter`: the kafka:// publisher (2015.1–9.x): one signed counter_* meter message per Kafka
 *    message, keyed by resource_id here, default topic `ceilometer`;
 *  - `oslo`: the oslo.messaging Kafka driver (notifier://?driver=kafka&topic=metering): an envelope
 *    {"oslo.version":"2.0","oslo.message":"<json notification>"} whose payload lists the meter
 *    messages, on topic `<topic>.sample` (e.g. `metering.sample`).
 */

export type WireForm = 'counter' | 'oslo';

/** The oslo notifier envelope carrying `messages` (signed meter messages) as one notification. */
export function osloEnvelope(messages: readonly Record<string, unknown>[], publisherHost = 'metering-demo', now = new Date()): string {
  const ts = now.toISOString().replace('T', ' ').replace('Z', '').padEnd(26, '0');
  const notification = {
    message_id: crypto.randomUUID(),
    publisher_id: `telemetry.publisher.${publisherHost}`,
    event_type: 'metering',
    priority: 'SAMPLE',
    payload: messages,
    timestamp: ts,
    _context: {},
  };
  return JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(notification) });
}

/** Kafka message values for `samples` in the given form (`perEnvelope` samples per oslo message). */
export function encodeSamples(samples: readonly Sample[], form: WireForm, secret: string, perEnvelope = 50, publisherHost?: string): string[] {
  const signed = samples.map((s) => signSample(s, secret));
  if (form === 'counter') return signed.map((m) => JSON.stringify(m));
  const out: string[] = [];
  for (let i = 0; i < signed.length; i += perEnvelope) out.push(osloEnvelope(signed.slice(i, i + perEnvelope), publisherHost));
  return out;
}

/** A connected idempotent-safe producer (acks from all in-sync replicas). */
export async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

/** Publish samples to `topic` in `form`; raw values may be mixed in via `extraValues` (e.g. invalid ones). */
export async function publishSamples(producer: Producer, topic: string, samples: readonly Sample[], form: WireForm, secret: string, extraValues: readonly string[] = []): Promise<number> {
  const values = [...encodeSamples(samples, form, secret), ...extraValues];
  // counter form: one sample per message, keyed by its resource_id (one resource, one partition)
  const keys = form === 'counter' ? samples.map((s) => s.resource_id) : [];
  for (let i = 0; i < values.length; i += 500) {
    await producer.send({ topic, acks: -1, messages: values.slice(i, i + 500).map((value, j) => ({ key: keys[i + j] ?? null, value })) });
  }
  return values.length;
}
