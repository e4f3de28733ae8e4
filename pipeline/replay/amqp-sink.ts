/**
 * The RabbitMQ side of a replay: what Ceilometer's `notifier://` publisher sends over oslo.messaging's
 * rabbit driver: oslo envelopes of signed meter messages (event_type `metering`), published persistent
 * to the topic exchange (`ceilometer`) with routing key `<topic>.sample`, after declaring the exchange and
 * the `<topic>.sample` queue the way oslo does. Publisher confirms make `send` resolve once RabbitMQ has
 * them. Like Kafka, there is no per-sample answer: stored / duplicates are null.
 */
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { encodeSamples } from '../kafka/producer';
import type { Sample } from '../sample';
import type { ReplaySink, ReplayTotals } from './sink';

export interface AmqpSinkOptions {
  url: string;
  /** oslo control_exchange (default `ceilometer`). */
  exchange?: string;
  /** Notifier topic: routing key and queue `<topic>.sample`. */
  topic: string;
  secret: string;
  /** Durable exchange and queue (oslo amqp_durable_queues; default false). */
  durable?: boolean;
  /** Meter messages per notification (default 50). */
  perEnvelope?: number;
}

export class AmqpSink implements ReplaySink {
  readonly totals: ReplayTotals = { sent: 0, accepted: null, stored: null, duplicates: null, rejected: null, retries: 0 };
  /** Notifications published. */
  messages = 0;

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly opts: AmqpSinkOptions & { exchange: string },
  ) {}

  static async connect(opts: AmqpSinkOptions): Promise<AmqpSink> {
    const exchange = opts.exchange ?? 'ceilometer';
    const durable = opts.durable ?? false;
    const connection = await amqp.connect(opts.url);
    try {
      const channel = await connection.createConfirmChannel();
      const queue = `${opts.topic}.sample`;
      await channel.assertExchange(exchange, 'topic', { durable, autoDelete: false });
      await channel.assertQueue(queue, { durable, autoDelete: false });
      await channel.bindQueue(queue, exchange, queue);
      return new AmqpSink(connection, channel, { ...opts, exchange });
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  async send(samples: readonly Sample[]): Promise<void> {
    const values = encodeSamples(samples, 'oslo', this.opts.secret, this.opts.perEnvelope ?? 50, 'metering-replay');
    for (const v of values) {
      this.channel.publish(this.opts.exchange, `${this.opts.topic}.sample`, Buffer.from(v), { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
    }
    await this.channel.waitForConfirms();
    this.messages += values.length;
    this.totals.sent += samples.length;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}
