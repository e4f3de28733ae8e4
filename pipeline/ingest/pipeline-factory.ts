import type { Kafka, Producer } from 'kafkajs';
import { MongoClient, type Db } from 'mongodb';
import type { Logger } from '../../lib/log';
import { ingestConfig, kafkaConfig, storeConfig, type IngestConfig, type KafkaConfig, type StoreConfig } from '../config';
import { CeilometerConsumer } from '../kafka/consumer';
import { AmqpNotificationConsumer } from '../amqp/consumer';
import { amqpConfig, type AmqpConfig } from '../amqp/config';
import { acceptedMeteringTopics } from '../amqp/topics';
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
  const client = new MongoClient(store.uri, { serverSelectionTimeoutMS: store.serverSelectionTimeoutMs });
  await client.connect();
  return { client, db: client.db(store.database) };
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
  let consumer: CeilometerConsumer | undefined;
  if (deps.kafka) {
    consumer = new CeilometerConsumer({ kafka: deps.kafka, config: kafkaCfg, ingest: config.ingest, ingestor, log, parseOptions });
    if (deps.startConsumer !== false) await consumer.start();
  }
  let amqpConsumer: AmqpNotificationConsumer | undefined;
  if (config.amqp && (deps.amqp ?? config.amqp.enabled)) {
    amqpConsumer = new AmqpNotificationConsumer({ config: config.amqp, ingest: config.ingest, ingestor, log, parseOptions });
    if (deps.startConsumer !== false) await amqpConsumer.start();
  }

  return {
    ingestor,
    hub: ingestor.hub,
    writer,
    consumer,
    amqpConsumer,
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
        await Promise.all([consumer?.stop(), amqpConsumer?.stop()]);
        await ingestor.close();
      } finally {
        clearTimeout(grace);
      }
      if (producer) await producer.disconnect();
    },
  };
}
