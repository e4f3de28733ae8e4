import { existsSync } from 'node:fs';
import { z } from 'zod';

/**
 * The RabbitMQ side of ingestion: Ceilometer's `notifier://` publisher over oslo.messaging's default
 * (rabbit) driver. The exchange and queue settings mirror oslo.messaging's rabbit driver (18.x,
 * impl_rabbit.py `notify_send` / `_publish_and_creates_default_queue`) so that this consumer declares
 * exactly what the publisher declares; a mismatch is refused by RabbitMQ (PRECONDITION_FAILED) and
 * reported naming the setting. See docs/ingestion.md and docs/ceilometer-formats.md.
 */
export const amqpConfig = z
  .strictObject({
    /** Whether the controller consumes Ceilometer notifications from RabbitMQ. Default false. */
    enabled: z.boolean().default(false),
    /**
     * Broker URL, amqp://user:password@host:port/vhost (oslo.messaging's `transport_url` with the
     * `rabbit://` scheme written as `amqp://`; without credentials guest/guest). Default
     * amqp://127.0.0.1:5672. Environment override: AMQP_URL.
     */
    url: z
      .string()
      .min(1)
      .refine((v) => /^amqps?:\/\//.test(v) && URL.canParse(v), 'expected amqp://user:password@host:port/vhost (or amqps:// for TLS)')
      .default('amqp://127.0.0.1:5672'),
    /**
     * PEM files for an amqps:// URL (RabbitMQ's TLS listener, port 5671 by default): `ca` the CA the
     * broker's certificate chains to (default: the system's trusted CAs), `cert` and `key` a client
     * certificate for brokers with `ssl_options.fail_if_no_peer_cert = true`. The broker's certificate
     * must name the URL's host.
     */
    tls: z
      .strictObject({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
      })
      .prefault({})
      .superRefine((t, ctx) => {
        if (Boolean(t.cert) !== Boolean(t.key)) ctx.addIssue({ code: 'custom', path: [t.cert ? 'key' : 'cert'], message: 'cert and key go together' });
        for (const field of ['ca', 'cert', 'key'] as const) {
          const file = t[field];
          if (file && !existsSync(file)) ctx.addIssue({ code: 'custom', path: [field], message: `file not found: ${file}` });
        }
      }),
    /**
     * Exchange the notifications are published to: oslo.messaging's `control_exchange`, which Ceilometer
     * sets to `ceilometer`. Default `ceilometer`.
     */
    exchange: z.string().min(1).default('ceilometer'),
    /**
     * Notifier topics: the `topic=` of Ceilometer's `notifier://` publisher URL, else its
     * `[publisher_notifier] metering_topic`. Each is consumed from queue `<topic>.sample`, bound to the
     * exchange with routing key `<topic>.sample`, the queue oslo.messaging creates on first publish.
     * They are also accepted as notification event_types. Default [metering].
     */
    topics: z.array(z.string().min(1)).min(1).default(['metering']),
    /**
     * oslo.messaging `[oslo_messaging_rabbit] amqp_durable_queues`: exchange and queues durable (they and
     * the messages in them survive a broker restart). Must equal Ceilometer's setting. Default false (oslo's default).
     */
    durableQueues: z.boolean().default(false),
    /** oslo.messaging `amqp_auto_delete`: exchange and queues deleted when unused. Must equal Ceilometer's. Default false. */
    autoDelete: z.boolean().default(false),
    /** oslo.messaging `rabbit_quorum_queue`: queues of type quorum (x-queue-type: quorum; implies durable). Default false. */
    quorumQueues: z.boolean().default(false),
    /** oslo.messaging `rabbit_ha_queues`: x-ha-policy: all (classic mirrored queues; not with quorumQueues). Default false. */
    haQueues: z.boolean().default(false),
    /**
     * Most notifications delivered and not yet acknowledged (AMQP basic.qos prefetch): bounds memory.
     * Each is acknowledged only after its samples are durably stored. Default 64.
     */
    prefetch: z.number().int().positive().max(65_535).default(64),
    /** AMQP heartbeat in seconds (0: none). Default 30. */
    heartbeatSeconds: z.number().int().min(0).default(30),
    /** First reconnect delay after losing the broker, in ms; doubles per failed attempt. Default 500. */
    reconnectInitialMs: z.number().int().positive().default(500),
    /** Largest reconnect delay, in ms. Default 10000. */
    reconnectMaxMs: z.number().int().positive().default(10_000),
  })
  .prefault({})
  .superRefine((c, ctx) => {
    if (!c.url.startsWith('amqps:') && (c.tls.ca || c.tls.cert)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'amqp.tls is set but the URL is amqp://: use amqps:// to speak TLS to RabbitMQ' });
  });
export type AmqpConfig = z.output<typeof amqpConfig>;

/** The oslo notifier's routing key and queue name for a topic (Ceilometer samples have priority SAMPLE). */
export const notificationQueue = (topic: string): string => `${topic}.sample`;

/** Queue arguments exactly as oslo.messaging's `_get_queue_arguments` builds them for the default notification queue. */
export function queueArguments(c: Pick<AmqpConfig, 'quorumQueues' | 'haQueues'>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (c.haQueues) args['x-ha-policy'] = 'all';
  if (c.quorumQueues) args['x-queue-type'] = 'quorum';
  return args;
}

/** Durable as oslo decides it: amqp_durable_queues or rabbit_quorum_queue. */
export const durable = (c: Pick<AmqpConfig, 'durableQueues' | 'quorumQueues'>): boolean => c.durableQueues || c.quorumQueues;
