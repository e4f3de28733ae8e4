/**
 * The kafka:// publisher side of a replay: signed counter_* messages, one per Kafka message (keyed by resource_id),
 * or oslo notifier envelopes on `<topic>.sample`. Kafka gives no per-sample answer, so stored /
 * duplicates are unknown here (null); the consumer's metrics say what was stored.
 */
import type { Producer } from 'kafkajs';
import { createKafka } from '../kafka/client';
import type { Sample } from '../sample';
import { groupByResource } from '../durable/keys';
import { kafkaTopicFor, kafkaValues, type KafkaForm } from './encode';
import type { ReplaySink, ReplayTotals } from './sink';

export interface KafkaSinkOptions {
  brokers: string[];
  topic: string;
  form: KafkaForm;
  secret: string;
  /** Meter messages per oslo envelope (notifier form; default 50). */
  perEnvelope?: number;
}

/**
 * Split values into produce requests of at most `maxBytes` (default 512 KiB), under the broker's
 * default 1 MiB `message.max.bytes` for a record batch.
 */
export function produceChunks(values: readonly string[], maxBytes = 512 * 1024): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const v of values) {
    const b = Buffer.byteLength(v) + 64;
    if (cur.length > 0 && bytes + b > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(v);
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export class KafkaSink implements ReplaySink {
  readonly totals: ReplayTotals = { sent: 0, accepted: null, stored: null, duplicates: null, rejected: null, retries: 0 };
  /** Kafka messages produced. */
  messages = 0;
  readonly topic: string;

  private constructor(
    private readonly producer: Producer,
    private readonly opts: KafkaSinkOptions,
  ) {
    this.topic = kafkaTopicFor(opts.topic, opts.form);
  }

  static async connect(opts: KafkaSinkOptions): Promise<KafkaSink> {
    const kafka = createKafka({ brokers: opts.brokers, clientId: 'metering-replay' });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    return new KafkaSink(producer, opts);
  }

  /** Each message holds one resource's samples and is keyed by its resource_id (one resource, one partition). */
  async send(samples: readonly Sample[]): Promise<void> {
    const messages = groupByResource(samples).flatMap(([key, group]) => kafkaValues(group, this.opts.form, this.opts.secret, this.opts.perEnvelope).map((value) => ({ key, value })));
    const count = messages.length;
    for (const chunk of produceChunks(messages.map((m) => m.value))) {
      const batch = messages.splice(0, chunk.length);
      await this.producer.send({ topic: this.topic, acks: -1, messages: batch });
    }
    this.messages += count;
    this.totals.sent += samples.length;
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
