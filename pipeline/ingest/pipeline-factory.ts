import type { Kafka, Producer } from 'kafkajs';
import { redactUrlCredentials } from '../../config/secrets';
import { MongoClient, type Db } from 'mongodb';
import type { Logger } from '../../lib/log';
import { SERVER_CERT_EXPIRED } from '../../lib/setting-file';
import { ingestConfig, kafkaConfig, storeConfig, type IngestConfig, type KafkaConfig, type StoreConfig } from '../config';
import { CeilometerConsumer } from '../kafka/consumer';
import { AmqpNotificationConsumer } from '../amqp/consumer';
import { amqpConfig, type AmqpConfig } from '../amqp/config';
import { acceptedMeteringTopics } from '../amqp/topics';
import { DurableLog } from '../durable/log';
import { ensureIngestTopic, resolveAcceptance, type Acceptance } from '../durable/acceptance';
import { MeterMessageIntake } from '../listeners/intake';
import { TcpListener } from '../listeners/tcp';
import { UdpListener } from '../listeners/udp';
import { MeterStoreWriter, type ServerTopology } from '../store/writer';
import type { EnsureIndexesReport } from '../store/indexes';
import { KafkaDeadLetterSink, MongoDeadLetterSink, MultiDeadLetterSink, type DeadLetterSink } from './dead-letter';
import { Ingestor } from './ingestor';
import { BackpressureError } from './backpressure';
import type { ObserverHub } from './observer-hub';

/**
 * One way to wire ingestion (controller, demo, benchmark, tests): store writer (indexes checked),
 * dead-letter destination, observer hub, Ingestor and, given a Kafka client, the consumer.
 */

export interface IngestionConfig {
  store: StoreConfig;
  ingest: IngestConfig;
  kafka?: KafkaConfig;
  /** With `amqp.enabled` (or deps.amqp) the RabbitMQ notification consumer is created. */
  amqp?: AmqpConfig;
}

export interface IngestionDeps {
  db: Db;
  /** With a Kafka client the Ceilometer consumer is created (and started unless startConsumer is false). */
  kafka?: Kafka;
  startConsumer?: boolean;
  /**
   * Kafka is enabled in the product's configuration (the controller passes kafka.enabled): then
   * ingest.acceptance `auto` means `log`. Without it `auto` means `store` (tests, benchmarks).
   */
  kafkaEnabled?: boolean;
  /** Create the RabbitMQ consumer (default: config.amqp.enabled); started with the Kafka one (startConsumer). */
  amqp?: boolean;
  log?: Logger;
}

export interface Ingestion {
  ingestor: Ingestor;
  hub: ObserverHub;
  writer: MeterStoreWriter;
  consumer?: CeilometerConsumer;
  amqpConsumer?: AmqpNotificationConsumer;
  /** How HTTP, UDP and TCP input is acknowledged (ingest.acceptance resolved). */
  acceptance: Acceptance;
  /** The Kafka ingest log (acceptance `log`). */
  durableLog?: DurableLog;
  /** Ceilometer udp:// and tcp:// publisher listeners (ingest.udp / ingest.tcp enabled). */
  udp?: UdpListener;
  tcp?: TcpListener;
  /** Start the consumers and listeners created with startConsumer: false; returns the listeners' bound ports. */
  start(): Promise<{ udpPort?: number; tcpPort?: number }>;
  topology: ServerTopology;
  indexes: EnsureIndexesReport;
  /** Stop the consumer (finishing its batch in hand), write everything accepted, release producers. */
  close(): Promise<void>;
}

/** Fill every default of the three sections (handy for callers holding partial objects). */
export function resolveIngestionConfig(partial: { store?: Partial<StoreConfig>; ingest?: Partial<IngestConfig>; kafka?: Partial<KafkaConfig>; amqp?: Partial<AmqpConfig> } = {}): Required<IngestionConfig> {
  return { store: storeConfig.parse(partial.store ?? {}), ingest: ingestConfig.parse(partial.ingest ?? {}), kafka: kafkaConfig.parse(partial.kafka ?? {}), amqp: amqpConfig.parse(partial.amqp ?? {}) };
}

/** Connect to the configured store (the client is the caller's to close). */
export async function connectStore(store: StoreConfig): Promise<{ client: MongoClient; db: Db }> {
  let client: MongoClient;
  try {
    client = new MongoClient(store.uri, { serverSelectionTimeoutMS: store.serverSelectionTimeoutMs });
  } catch (err) {
    throw new Error(`store.uri: ${redactUrlCredentials(store.uri)} is not a usable MongoDB connection string: ${(err as Error).message}`);
  }
  try {
    await client.connect();
    // connect() succeeds lazily on some topologies: one round trip proves TLS and credentials now
    await client.db(store.database).command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(explainMongoFailure(err, store.uri));
  }
  return { client, db: client.db(store.database) };
}

/** Why connecting to MongoDB failed, naming the setting: TLS options and credentials live in store.uri. */
export function explainMongoFailure(err: unknown, uri: string): string {
  const e = err as { message?: string; cause?: { message?: string }; reason?: { servers?: Map<string, { error?: { message?: string } }> } };
  const inner = [...(e.reason?.servers?.values() ?? [])].map((s) => s.error?.message).filter(Boolean).join('; ');
  const text = [...new Set([e.message ?? String(err), e.cause?.message, inner].filter(Boolean))].join(': ');
  const where = redactUrlCredentials(uri);
  if (/Authentication failed|auth|SCRAM|Unauthorized/i.test(text)) return `store.uri: MongoDB at ${where} refused the credentials in the URI: ${text}`;
  if (SERVER_CERT_EXPIRED.test(text)) return `store.uri: the certificate of MongoDB at ${where} has expired: ${text} (renew it on the server; nothing in the URI's TLS options can fix that)`;
  if (/certificate|self[- ]signed|SSL|TLS|handshake|CERT_/i.test(text)) return `store.uri: TLS handshake with MongoDB at ${where} failed: ${text} (check tls=true, tlsCAFile / tlsCertificateKeyFile in the URI)`;
  return `store.uri: cannot connect to MongoDB at ${where}: ${text}`;
}

export async function createIngestion(config: IngestionConfig, deps: IngestionDeps): Promise<Ingestion> {
  const { db, log } = deps;
  const kafkaCfg = config.kafka ?? kafkaConfig.parse({});
  const writer = new MeterStoreWriter(db, config.store, log);
  const { topology, indexes } = await writer.prepare();

  let producer: Producer | undefined;
  const sinks: DeadLetterSink[] = [];
  const dest = config.ingest.deadLetter;
  if (dest === 'mongo' || dest === 'both') sinks.push(new MongoDeadLetterSink(db, writer.writeConcern));
  if (dest === 'kafka' || dest === 'both') {
    if (!deps.kafka) throw new Error(`ingest.deadLetter is ${dest} but no Kafka client was given (kafka.brokers)`);
    producer = deps.kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    sinks.push(new KafkaDeadLetterSink(producer, kafkaCfg.deadLetterTopic));
  }
  const deadLetters = sinks.length === 0 ? undefined : sinks.length === 1 ? sinks[0] : new MultiDeadLetterSink(sinks);

  const ingestor = new Ingestor({ config: config.ingest, writer, deadLetters, log });

  const parseOptions = { meteringTopics: acceptedMeteringTopics({ ingest: config.ingest, amqp: config.amqp, kafka: kafkaCfg }) };
  const acceptance = resolveAcceptance(config.ingest.acceptance, deps.kafka !== undefined && deps.kafkaEnabled === true);
  let durableLog: DurableLog | undefined;
  let logProducer: Producer | undefined;
  let consumerCfg = kafkaCfg;
  if (acceptance === 'log') {
    await ensureIngestTopic(deps.kafka!, kafkaCfg.ingestTopic, config.ingest.maxBodyBytes);
    logProducer = deps.kafka!.producer({ allowAutoTopicCreation: false });
    await logProducer.connect();
    durableLog = new DurableLog(logProducer, kafkaCfg.ingestTopic);
    if (!kafkaCfg.topics.includes(kafkaCfg.ingestTopic)) consumerCfg = { ...kafkaCfg, topics: [...kafkaCfg.topics, kafkaCfg.ingestTopic] };
  }
  let consumer: CeilometerConsumer | undefined;
  if (deps.kafka) consumer = new CeilometerConsumer({ kafka: deps.kafka, config: consumerCfg, ingest: config.ingest, ingestor, log, parseOptions });
  let amqpConsumer: AmqpNotificationConsumer | undefined;
  if (config.amqp && (deps.amqp ?? config.amqp.enabled)) {
    amqpConsumer = new AmqpNotificationConsumer({ config: config.amqp, ingest: config.ingest, ingestor, log, parseOptions });
  }
  const listenerParse = { secret: config.ingest.telemetrySecret, signaturePolicy: config.ingest.signaturePolicy, ...parseOptions };
  const udp = config.ingest.udp.enabled ? new UdpListener(config.ingest.udp, new MeterMessageIntake({ transport: 'udp', ingestor, log: durableLog, parseOptions: listenerParse }), log) : undefined;
  const tcp = config.ingest.tcp.enabled ? new TcpListener(config.ingest.tcp, new MeterMessageIntake({ transport: 'tcp', ingestor, log: durableLog, parseOptions: listenerParse }), log) : undefined;
  // once: a second call answers the first one's ports (starting the Kafka consumer again would put a
  // second, orphaned member in the group, which could be given the partitions and never drain them)
  let started: Promise<{ udpPort: number | undefined; tcpPort: number | undefined }> | undefined;
  const start = () =>
    (started ??= (async () => {
      await consumer?.start();
      await amqpConsumer?.start();
      return { udpPort: await udp?.start(), tcpPort: await tcp?.start() };
    })());
  if (deps.startConsumer !== false) await start();

  return {
    ingestor,
    hub: ingestor.hub,
    writer,
    consumer,
    amqpConsumer,
    acceptance,
    durableLog,
    udp,
    tcp,
    start,
    topology,
    indexes,
    async close() {
      // Give accepted samples shutdownGraceMs to reach the store; then give up on them rather than hang
      // (a store that stays down would keep the retries, and so the shutdown, going forever).
      const grace = setTimeout(() => {
        log?.warn({ graceMs: config.ingest.shutdownGraceMs, buffer: ingestor.buffer }, 'store did not take the accepted samples in time: giving up on them (HTTP callers get 503, Kafka redelivers)');
        ingestor.abort(new BackpressureError(503, 5, 'closed', 'ingestion shut down before these samples reached the store; send them again'));
      }, config.ingest.shutdownGraceMs);
      try {
        await Promise.all([udp?.stop(), tcp?.stop()]);
        await Promise.all([consumer?.stop(), amqpConsumer?.stop()]);
        await ingestor.close();
      } finally {
        clearTimeout(grace);
      }
      if (producer) await producer.disconnect();
      if (logProducer) await logProducer.disconnect();
    },
  };
}
