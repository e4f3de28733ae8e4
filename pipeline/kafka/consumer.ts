import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../../lib/log';
import { parseKafkaValue, type NormalizeOptions } from '../ceilometer/normalize';
import type { IngestConfig, KafkaConfig } from '../config';
import type { Sample } from '../sample';
import { BackpressureError } from '../ingest/backpressure';
import type { RejectInput } from '../ingest/dead-letter';
import { ensureTopics } from './client';
import type { Ingestor } from '../ingest/ingestor';

/**
 * The Kafka side of ingestion: a consumer group over the configured topics, each message either one
 * signed counter_* meter message (Ceilometer's kafka:// publisher) or an oslo notifier envelope.
 *
 * At-least-once delivery + the store's unique message-id index = exactly-once effect:
 *  - `eachBatch` with `eachBatchAutoResolve: false` and `autoCommit: false`: a partition's batch is
 *    parsed, its samples submitted to the Ingestor (which resolves only after the durable write) and its
 *    rejects dead-lettered; only then is the offset resolved and committed;
 *  - a consumer that dies anywhere before the commit is redelivered the batch; samples it already
 *    stored come back as duplicates and are not stored again;
 *  - back-pressure from the Ingestor pauses the topic for `retryAfterSeconds` (heartbeating meanwhile)
 *    and then retries the same samples.
 */

export interface CeilometerConsumerOptions {
  kafka: Kafka;
  config: KafkaConfig;
  ingest: Pick<IngestConfig, 'batchMaxSamples' | 'maxInFlightSamples' | 'maxInFlightBytes' | 'telemetrySecret' | 'signaturePolicy'>;
  ingestor: Ingestor;
  log?: Logger;
  /** Extra parser options (limits, default source). */
  parseOptions?: NormalizeOptions;
}

export interface ConsumerStats {
  messages: number;
  batches: number;
  commits: number;
  pauses: number;
  samples: number;
  rejects: number;
}

class ConsumerStopped extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class CeilometerConsumer {
  readonly stats: ConsumerStats = { messages: 0, batches: 0, commits: 0, pauses: 0, samples: 0, rejects: 0 };
  private consumer: Consumer | undefined;
  private killed = false;
  private pausedTopics = new Map<string, number>();
  private readonly parseOptions: NormalizeOptions;

  constructor(private readonly opts: CeilometerConsumerOptions) {
    this.parseOptions = { secret: opts.ingest.telemetrySecret, signaturePolicy: opts.ingest.signaturePolicy, ...opts.parseOptions };
  }

  /** Join the group, subscribe and start consuming (returns once running). */
  async start(): Promise<void> {
    const { kafka, config } = this.opts;
    const consumer = kafka.consumer({ groupId: config.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: config.fetchMaxWaitMs, retry: { retries: 10 } });
    this.consumer = consumer;
    this.killed = false;
    await consumer.connect();
    await ensureTopics(kafka, config.topics);
    await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Graceful shutdown: finish (write and commit) the batch in hand, leave the group, disconnect. */
  async stop(): Promise<void> {
    if (!this.consumer) return;
    const c = this.consumer;
    this.consumer = undefined;
    await c.disconnect();
  }

  /**
   * Leave without committing anything further (what a crash amounts to, for tests and emergency
   * shutdown): a batch in hand is abandoned uncommitted and will be redelivered to the group.
   * Abort the ingestor first so an in-flight submit does not keep the batch alive.
   */
  async kill(): Promise<void> {
    this.killed = true;
    const c = this.consumer;
    this.consumer = undefined;
    if (c) await c.disconnect();
  }

  private chunkSize(): number {
    const { batchMaxSamples, maxInFlightSamples } = this.opts.ingest;
    return Math.max(1, Math.min(batchMaxSamples, Math.floor(maxInFlightSamples / 2)));
  }

  private async onBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const rejects: RejectInput[] = [];
    // Chunks for the ingestor, capped by count and by (approximate) bytes so that no chunk can exceed
    // the in-flight budget, which would be refused as too large every time the batch is redelivered.
    const size = this.chunkSize();
    const maxBytes = Math.max(1, Math.floor(this.opts.ingest.maxInFlightBytes / 2));
    const chunks: Array<{ samples: Sample[]; rejects: RejectInput[]; bytes: number }> = [{ samples: [], rejects, bytes: 0 }];
    for (const m of batch.messages) {
      const value = m.value ?? Buffer.alloc(0);
      const parsed = parseKafkaValue(value, this.parseOptions);
      const each = parsed.samples.length ? value.length / parsed.samples.length : 0;
      for (const s of parsed.samples) {
        let last = chunks[chunks.length - 1]!;
        if (last.samples.length > 0 && (last.samples.length >= size || last.bytes + each > maxBytes)) {
          last = { samples: [], rejects: [], bytes: 0 };
          chunks.push(last);
        }
        last.samples.push(s);
        last.bytes += each;
      }
      for (const r of parsed.rejects) rejects.push({ ...r, kafka: { topic, partition, offset: m.offset } });
    }
    this.stats.messages += batch.messages.length;

    const live = () => !this.killed && isRunning() && !isStale();
    try {
      await Promise.all(chunks.map((c) => this.submitWithBackoff(topic, c.samples, c.rejects, live, heartbeat)));
    } catch (err) {
      if (err instanceof ConsumerStopped || !live()) return; // abandoned uncommitted: redelivered later
      throw err; // KafkaJS restarts the consumer; the batch is redelivered from the last commit
    }
    if (this.killed) return; // kill(): never commit after the decision to leave
    const last = batch.lastOffset();
    resolveOffset(last);
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }] });
    this.stats.batches++;
    this.stats.commits++;
    for (const c of chunks) this.stats.samples += c.samples.length;
    this.stats.rejects += rejects.length;
    await heartbeat();
  }

  private async submitWithBackoff(topic: string, samples: Sample[], rejects: RejectInput[], live: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
    for (;;) {
      if (!live()) throw new ConsumerStopped();
      try {
        await this.opts.ingestor.submit(samples, rejects, 'kafka');
        return;
      } catch (err) {
        if (!(err instanceof BackpressureError) || err.reason === 'closed') {
          if (!live()) throw new ConsumerStopped();
          throw err;
        }
        this.stats.pauses++;
        this.pause(topic);
        this.opts.log?.warn({ topic, status: err.status, retryAfterSeconds: err.retryAfterSeconds, reason: err.reason }, 'ingestion back-pressure: topic paused');
        try {
          const until = Date.now() + err.retryAfterSeconds * 1000;
          while (Date.now() < until) {
            if (!live()) throw new ConsumerStopped();
            await sleep(Math.min(500, until - Date.now()));
            await heartbeat().catch(() => undefined);
          }
        } finally {
          this.resume(topic);
        }
      }
    }
  }

  private pause(topic: string): void {
    const n = this.pausedTopics.get(topic) ?? 0;
    this.pausedTopics.set(topic, n + 1);
    if (n === 0) this.consumer?.pause([{ topic }]);
  }

  private resume(topic: string): void {
    const n = (this.pausedTopics.get(topic) ?? 1) - 1;
    if (n <= 0) {
      this.pausedTopics.delete(topic);
      this.consumer?.resume([{ topic }]);
    } else this.pausedTopics.set(topic, n);
  }
}
