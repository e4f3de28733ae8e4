import { createHash } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from '../../lib/log';
import { parseKafkaValue, payloadPositions, type NormalizeOptions } from '../ceilometer/normalize';
import type { IngestConfig } from '../config';
import { BackpressureError } from '../ingest/backpressure';
import type { RejectInput } from '../ingest/dead-letter';
import type { Ingestor, SampleOrigin, SubmitResult } from '../ingest/ingestor';
import type { Sample } from '../sample';
import { amqpTlsOptions, explainAmqpFailure } from './connection';
import { durable, notificationQueue, queueArguments, type AmqpConfig } from './config';

/**
 * Ceilometer's `notifier://` publisher over oslo.messaging's rabbit driver, consumed from RabbitMQ.
 *
 * Each AMQP message is one oslo notification (kombu JSON: {"oslo.version":"2.0","oslo.message":"…"})
 * whose payload lists signed meter messages: the same form as the Kafka notifier, parsed by the same
 * code. Guarantees (the Kafka consumer's, in AMQP terms):
 *  - a message is acknowledged only after the Ingestor resolved its samples (durably stored, or found
 *    already stored) and dead-lettered its rejects;
 *  - anything not acknowledged (crash, lost connection, broker restart) is redelivered by RabbitMQ;
 *    samples already stored come back as duplicates and are not stored again;
 *  - a message that cannot be used (not JSON, wrong event_type, bad signatures…) is dead-lettered
 *    with its reason and acknowledged: it never blocks the queue;
 *  - at most `prefetch` messages are held unacknowledged (memory bound);
 *  - back-pressure keeps the message in hand and retries after Retry-After (no new deliveries beyond
 *    the prefetch arrive meanwhile);
 *  - a lost connection is re-established with backoff until stop().
 */

export interface AmqpConsumerOptions {
  config: AmqpConfig;
  ingest: Pick<IngestConfig, 'batchMaxSamples' | 'maxInFlightSamples' | 'telemetrySecret' | 'signaturePolicy'>;
  ingestor: Ingestor;
  log?: Logger;
  /** Extra parser options (limits, metering topics). */
  parseOptions?: NormalizeOptions;
}

export interface AmqpConsumerStats {
  /** Deliveries received (redeliveries included). */
  messages: number;
  /** Of those, flagged redelivered by the broker. */
  redelivered: number;
  acked: number;
  /** Samples of acknowledged messages the ingestor took in (stored, or found already stored). */
  samples: number;
  /** Items of acknowledged messages the parser rejected (invalid, forged). */
  rejects: number;
  /** Parsed samples of acknowledged messages the ingestor's screen (not storable, implausible) or the store refused. */
  refused: number;
  /** Times a message waited for back-pressure to clear. */
  backpressureWaits: number;
  /** Connections made after the first (broker restarts, network loss). */
  reconnects: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A key that is the same for every delivery of one message: dead letters of a redelivery are not doubled. */
const bodyKey = (body: Buffer): string => createHash('sha256').update(body).digest('hex').slice(0, 32);

/** The broker URL with `heartbeat` set (amqplib takes it from the query), unless the URL sets it. */
export function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}

export class AmqpNotificationConsumer {
  readonly stats: AmqpConsumerStats = { messages: 0, redelivered: 0, acked: 0, samples: 0, rejects: 0, refused: 0, backpressureWaits: 0, reconnects: 0 };
  private connection: ChannelModel | undefined;
  private channel: Channel | undefined;
  private stopping = false;
  private connects = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private readonly parseOptions: NormalizeOptions;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: AmqpConsumerOptions) {
    this.parseOptions = { secret: opts.ingest.telemetrySecret, signaturePolicy: opts.ingest.signaturePolicy, meteringTopics: opts.config.topics, ...opts.parseOptions };
  }

  /** Connected and consuming right now. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /** Unacknowledged messages being worked on. */
  get inHand(): number {
    return this.inFlight.size;
  }

  /**
   * Connect, declare the exchange and queues as oslo.messaging does, and start consuming. Resolves once
   * consuming; throws if the first connection fails (a wrong URL or a declaration mismatch is a
   * configuration error to see at start-up). Later losses are reconnected in the background.
   */
  async start(): Promise<void> {
    this.stopping = false;
    await this.connectOnce();
    this.loop = this.keepConnected();
  }

  /** Graceful: stop taking deliveries, finish (store and acknowledge) those in hand, close. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const ch = this.channel;
    if (ch) {
      for (const tag of this.consumerTags) await ch.cancel(tag).catch(() => undefined);
    }
    await Promise.allSettled([...this.inFlight]);
    await this.closeConnection();
    await this.loop;
  }

  /**
   * Leave without acknowledging anything further (what a crash amounts to): the connection is closed at
   * once and RabbitMQ redelivers every unacknowledged message to the next consumer.
   */
  async kill(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.channel = undefined;
    await this.closeConnection();
    await this.loop;
  }

  private consumerTags: string[] = [];

  private async closeConnection(): Promise<void> {
    const c = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    if (c) await c.close().catch(() => undefined);
  }

  private async connectOnce(): Promise<void> {
    const { config, log } = this.opts;
    if (config.quorumQueues && config.haQueues) throw new Error('amqp.quorumQueues and amqp.haQueues cannot both be true (oslo.messaging refuses the same combination)');
    let connection: ChannelModel;
    try {
      // amqps://: TLS with amqp.tls's CA and client certificate (amqplib passes these to tls.connect)
      const socketOptions: Record<string, unknown> = { timeout: 10_000, clientProperties: { connection_name: 'metering-ingest' }, ...amqpTlsOptions(config) };
      connection = await amqp.connect(withHeartbeat(config.url, config.heartbeatSeconds), socketOptions as Parameters<typeof amqp.connect>[1] & { recovery?: never });
    } catch (err) {
      throw new Error(explainAmqpFailure(err as Error, config));
    }
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => (closedResolve = r));
    connection.on('error', (err: Error) => log?.warn({ err: err.message }, 'AMQP connection error'));
    connection.on('close', () => {
      if (this.connection === connection) {
        this.connection = undefined;
        this.channel = undefined;
      }
      closedResolve();
    });
    this.closedSignal = closed;
    try {
      const ch = await connection.createChannel();
      ch.on('error', (err: Error) => log?.warn({ err: err.message }, 'AMQP channel error'));
      const isDurable = durable(config);
      await ch.assertExchange(config.exchange, 'topic', { durable: isDurable, autoDelete: config.autoDelete });
      await ch.prefetch(config.prefetch);
      this.consumerTags = [];
      // deliveries start as soon as the first consume is issued: they must find this channel current
      this.connection = connection;
      this.channel = ch;
      for (const topic of config.topics) {
        const queue = notificationQueue(topic);
        try {
          await ch.assertQueue(queue, { durable: isDurable, autoDelete: config.autoDelete, arguments: queueArguments(config) });
        } catch (err) {
          throw new Error(
            `AMQP queue ${queue}: ${(err as Error).message}. The queue exists with other settings than amqp.durableQueues=${config.durableQueues}, amqp.autoDelete=${config.autoDelete}, amqp.quorumQueues=${config.quorumQueues}, amqp.haQueues=${config.haQueues}: set them as Ceilometer's [oslo_messaging_rabbit] amqp_durable_queues, amqp_auto_delete, rabbit_quorum_queue, rabbit_ha_queues`,
          );
        }
        await ch.bindQueue(queue, config.exchange, queue);
        const { consumerTag } = await ch.consume(queue, (msg) => msg && this.onMessage(ch, msg), { noAck: false });
        this.consumerTags.push(consumerTag);
      }
      if (this.connects++ > 0) this.stats.reconnects++;
      log?.info({ exchange: config.exchange, queues: config.topics.map(notificationQueue), prefetch: config.prefetch }, 'consuming Ceilometer notifications from RabbitMQ');
    } catch (err) {
      if (this.connection === connection) {
        this.connection = undefined;
        this.channel = undefined;
      }
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  private closedSignal: Promise<void> = Promise.resolve();

  /** Wait for the connection to drop, then reconnect with backoff, until stop()/kill(). */
  private async keepConnected(): Promise<void> {
    const { config, log } = this.opts;
    for (;;) {
      await Promise.race([this.closedSignal, new Promise<void>((r) => (this.wake = r))]);
      if (this.stopping) return;
      log?.warn('lost the AMQP connection; unacknowledged notifications will be redelivered: reconnecting');
      for (let attempt = 0; !this.stopping; attempt++) {
        const delay = Math.min(config.reconnectMaxMs, config.reconnectInitialMs * 2 ** Math.min(attempt, 20));
        await Promise.race([sleep(delay), new Promise<void>((r) => (this.wake = r))]);
        if (this.stopping) return;
        try {
          await this.connectOnce();
          break;
        } catch (err) {
          log?.warn({ err: (err as Error).message, attempt: attempt + 1 }, 'AMQP reconnect failed');
        }
      }
    }
  }

  private chunkSize(): number {
    const { batchMaxSamples, maxInFlightSamples } = this.opts.ingest;
    return Math.max(1, Math.min(batchMaxSamples, Math.floor(maxInFlightSamples / 2)));
  }

  private onMessage(ch: Channel, msg: ConsumeMessage): void {
    const work = this.handle(ch, msg).catch((err: Error) => this.opts.log?.error({ err: err.message }, 'AMQP notification not handled; it stays unacknowledged and is redelivered'));
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    this.stats.messages++;
    if (msg.fields.redelivered) this.stats.redelivered++;
    const parsed = parseKafkaValue(msg.content, this.parseOptions);
    const origin = { source: 'amqp' as const, key: bodyKey(msg.content) };
    const rejects: RejectInput[] = parsed.rejects.map((r) => ({ ...r, origin }));
    const size = this.chunkSize();
    // a sample refused later (e.g. one the store cannot hold) is dead-lettered as amqp at its payload position
    const origins: SampleOrigin[] = payloadPositions(parsed).map((index) => ({ message: origin, index }));
    const chunks: Array<{ samples: Sample[]; origins: SampleOrigin[] }> = [];
    for (let i = 0; i < parsed.samples.length; i += size) chunks.push({ samples: parsed.samples.slice(i, i + size), origins: origins.slice(i, i + size) });
    if (chunks.length === 0) chunks.push({ samples: [], origins: [] });
    // the delivering channel is gone (lost connection, kill): give up, the broker redelivers the message
    const live = () => this.channel === ch;
    let results: SubmitResult[];
    try {
      results = await Promise.all(chunks.map((c, i) => this.submit(c.samples, i === 0 ? rejects : [], live, c.origins)));
    } catch (err) {
      if (!live() || (err instanceof BackpressureError && err.reason === 'closed')) return;
      // anything else (e.g. the dead-letter destination failing): hand it back to the broker after a
      // pause, so it is retried without holding a prefetch slot forever
      this.opts.log?.warn({ err: (err as Error).message }, 'AMQP notification not stored; returned to the queue');
      await sleep(1000);
      if (live()) ch.nack(msg, false, true);
      return;
    }
    // acknowledge only on the channel that delivered it; after a reconnect the broker redelivers it
    if (!live()) return;
    ch.ack(msg);
    this.stats.acked++;
    for (const r of results) {
      this.stats.samples += r.accepted;
      this.stats.refused += r.refusals.length;
    }
    this.stats.rejects += rejects.length;
  }

  private async submit(samples: Sample[], rejects: RejectInput[], live: () => boolean, origins: SampleOrigin[]): Promise<SubmitResult> {
    for (;;) {
      try {
        return await this.opts.ingestor.submit(samples, rejects, origins, 'amqp');
      } catch (err) {
        if (!(err instanceof BackpressureError) || err.reason === 'closed' || !live()) throw err;
        this.stats.backpressureWaits++;
        this.opts.log?.warn({ status: err.status, retryAfterSeconds: err.retryAfterSeconds, reason: err.reason }, 'ingestion back-pressure: AMQP notification held');
        await sleep(err.retryAfterSeconds * 1000);
      }
    }
  }
}
