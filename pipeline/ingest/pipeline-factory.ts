import type { Kafka, Producer } from 'kafkajs';
import { redactUrlCredentials } from '../../config/secrets';
import { MongoClient, type Db } from 'mongodb';
import type { Logger } from '../../lib/log';
import { ingestConfig, kafkaConfig, storeConfig, type IngestConfig, type KafkaConfig, type StoreConfig } from '../config';
import { CeilometerConsumer } from '../kafka/consumer';
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
}

export interface IngestionDeps {
  db: Db;
  /** With a Kafka client the Ceilometer consumer is created (and started unless startConsumer is false). */
  kafka?: Kafka;
  startConsumer?: boolean;
  log?: Logger;
}

export interface Ingestion {
  ingestor: Ingestor;
  hub: ObserverHub;
  writer: MeterStoreWriter;
  consumer?: CeilometerConsumer;
  topology: ServerTopology;
  indexes: EnsureIndexesReport;
  /** Stop the consumer (finishing its batch in hand), write everything accepted, release producers. */
  close(): Promise<void>;
}

/** Fill every default of the three sections (handy for callers holding partial objects). */
export function resolveIngestionConfig(partial: { store?: Partial<StoreConfig>; ingest?: Partial<IngestConfig>; kafka?: Partial<KafkaConfig> } = {}): Required<IngestionConfig> {
  return { store: storeConfig.parse(partial.store ?? {}), ingest: ingestConfig.parse(partial.ingest ?? {}), kafka: kafkaConfig.parse(partial.kafka ?? {}) };
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
  const text = [e.message ?? String(err), e.cause?.message, inner].filter(Boolean).join(': ');
  const where = redactUrlCredentials(uri);
  if (/Authentication failed|auth|SCRAM|Unauthorized/i.test(text)) return `store.uri: MongoDB at ${where} refused the credentials in the URI: ${text}`;
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

  let consumer: CeilometerConsumer | undefined;
  if (deps.kafka) {
    consumer = new CeilometerConsumer({ kafka: deps.kafka, config: kafkaCfg, ingest: config.ingest, ingestor, log });
    if (deps.startConsumer !== false) await consumer.start();
  }

  return {
    ingestor,
    hub: ingestor.hub,
    writer,
    consumer,
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
        if (consumer) await consumer.stop();
        await ingestor.close();
      } finally {
        clearTimeout(grace);
      }
      if (producer) await producer.disconnect();
    },
  };
}
