import { z } from 'zod';
import { readRoutingConfig } from './store/read-options';

/**
 * Configuration sections of the ingestion path: `store` (the MongoDB metering store), `ingest`
 * (batching, back-pressure, signatures, dead letters) and `kafka` (the Ceilometer Kafka consumer).
 * Every key has a default; see docs/ingestion.md.
 */

/** One shard-key field: 1 (ascending range), -1 (descending range) or "hashed". */
const shardKeyValue = z.union([z.literal(1), z.literal(-1), z.literal('hashed')]);

export const DEFAULT_SHARD_KEY: Readonly<Record<string, 1 | -1 | 'hashed'>> = Object.freeze({
  resource_id: 'hashed',
  timestamp: 1,
});

/** The MongoDB metering store (Ceilometer's legacy MongoDB layout: `meter` + `resource`). */
export const storeConfig = z
  .strictObject({
    /** Connection string (a mongos for a sharded store). Default mongodb://127.0.0.1:27017. Environment override: MONGODB_URI. */
    uri: z.string().min(1).default('mongodb://127.0.0.1:27017'),
    /** Database holding `meter`, `resource` and `dead_letter`. Default `ceilometer` (Ceilometer's own default database name). */
    database: z.string().min(1).default('ceilometer'),
    /**
     * Write concern of every sample write: `majority` (default: a write the HTTP caller or Kafka offset
     * commit relies on survives a primary failover), `1` / any number of members. `majority` on a
     * standalone server is refused at start-up with an error naming this key; set `1` explicitly there.
     */
    writeConcern: z.union([z.literal('majority'), z.number().int().min(0)]).default('majority'),
    /** Wait for the on-disk journal before acknowledging (`j`). Default true. */
    journal: z.boolean().default(true),
    /**
     * Time to live of samples in seconds (Ceilometer's `metering_time_to_live`): TTL indexes `meter_ttl`
     * on `meter.timestamp` and `resource_ttl` on `resource.last_sample_timestamp`. Default -1: keep
     * forever (any TTL index is dropped).
     */
    ttlSeconds: z.number().int().min(-1).default(-1),
    /**
     * Shard key of `meter`. Default {resource_id: hashed, timestamp: 1}. When `sharded`, the unique
     * message-id index is derived from it: its fields (hashed ones as ascending) + message_id.
     */
    shardKey: z
      .record(z.string().min(1), shardKeyValue)
      .refine((k) => Object.keys(k).length > 0, 'shard key needs at least one field')
      .refine((k) => Object.values(k).filter((v) => v === 'hashed').length <= 1, 'a shard key may have at most one hashed field')
      .default({ ...DEFAULT_SHARD_KEY }),
    /** Whether `meter` is (or will be) sharded on `shardKey`. Default false: plain unique {message_id: 1}. */
    sharded: z.boolean().default(false),
    /** How long to wait for a reachable server before a write fails, in ms. Default 5000. */
    serverSelectionTimeoutMs: z.number().int().positive().default(5000),
    /** Where reads that tolerate slightly stale data go (secondaryPreferred with maxStalenessSeconds); billing reads use read concern majority on the primary. */
    reads: readRoutingConfig,
  })
  .prefault({});
export type StoreConfig = z.output<typeof storeConfig>;

export const SIGNATURE_POLICIES = ['reject', 'flag', 'off'] as const;
export type SignaturePolicy = (typeof SIGNATURE_POLICIES)[number];
export const DEAD_LETTER_DESTINATIONS = ['mongo', 'kafka', 'both', 'none'] as const;
export type DeadLetterDestination = (typeof DEAD_LETTER_DESTINATIONS)[number];

/** Batching, back-pressure, signature checking and dead letters of the ingestion path. */
export const ingestConfig = z
  .strictObject({
    /** A batch is written once it holds this many samples. Default 500. */
    batchMaxSamples: z.number().int().positive().max(100_000).default(500),
    /** ... or this many bytes (BSON size of the `meter` documents). Default 4 MiB. */
    batchMaxBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** ... or when its oldest sample has waited this long, in ms. Default 20. */
    batchMaxAgeMs: z.number().int().min(0).default(20),
    /** Batches written concurrently. Default 2. */
    maxConcurrentBatches: z.number().int().positive().default(2),
    /** Most samples accepted but not yet written; beyond it submissions get 429. Default 20000. */
    maxInFlightSamples: z.number().int().positive().default(20_000),
    /** Most bytes (BSON) accepted but not yet written; beyond it submissions get 429. Default 64 MiB. */
    maxInFlightBytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** Consecutive failed batch writes after which the store counts as down (new submissions get 503). Default 3. */
    storeDownAfterFailures: z.number().int().positive().default(3),
    /** Average batch write latency (ms, moving average) above which the store counts as slow: new work gets 429 while a backlog exists. Default 2000. */
    slowWriteMs: z.number().int().positive().default(2000),
    /** First retry delay of a failed batch, in ms; doubles per failure. Default 100. */
    retryInitialMs: z.number().int().positive().default(100),
    /** Largest retry delay, in ms. Default 5000. */
    retryMaxMs: z.number().int().positive().default(5000),
    /**
     * After this many failed attempts of one batch the store is probed with a tiny write: if it answers,
     * the batch itself is at fault, so it is split in halves, and a single sample that still fails is
     * dead-lettered with the store's reason. While the store is down nothing is split or dropped. Default 5.
     */
    isolateAfterFailures: z.number().int().positive().default(5),
    /**
     * On shutdown, how long accepted samples may take to reach the store, in ms. After it, what is
     * still unwritten is given up: HTTP callers get 503 (they resend), Kafka redelivers what was not
     * committed. Default 30000.
     */
    shutdownGraceMs: z.number().int().min(0).default(30_000),
    /**
     * What to do with a sample whose Ceilometer signature does not verify: `reject` (dead-letter it,
     * as Ceilometer's collector dropped it), `flag` (store it, recorded in `meter_flags`), `off` (do not
     * check). Default reject.
     */
    signaturePolicy: z.enum(SIGNATURE_POLICIES).default('reject'),
    /** Ceilometer's `[publisher] telemetry_secret`. Default '' (unsigned: no check). Environment override: METERING_TELEMETRY_SECRET. */
    telemetrySecret: z.string().default(''),
    /** Largest HTTP ingest body in bytes. Default 10 MiB. */
    maxBodyBytes: z.number().int().positive().default(10 * 1024 * 1024),
    /** Where invalid samples go: `mongo` (collection `dead_letter`), `kafka` (kafka.deadLetterTopic), `both`, `none`. Default mongo. */
    deadLetter: z.enum(DEAD_LETTER_DESTINATIONS).default('mongo'),
  })
  .prefault({});
export type IngestConfig = z.output<typeof ingestConfig>;

/** The Kafka consumer of Ceilometer's kafka:// publisher and oslo notifier (driver=kafka) output. */
export const kafkaConfig = z
  .strictObject({
    /** Whether the controller runs the consumer. Default false. */
    enabled: z.boolean().default(false),
    /** Bootstrap brokers, host:port. Default [127.0.0.1:9092]. Environment override: KAFKA_BROKERS (comma separated). */
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
    /** Client id. Default `metering`. */
    clientId: z.string().min(1).default('metering'),
    /** Consumer group; every consumer in it shares the partitions. Default `metering-ingest`. */
    groupId: z.string().min(1).default('metering-ingest'),
    /**
     * Topics to consume. A message is either one signed `counter_*` object (kafka:// publisher, topic
     * `ceilometer`) or an oslo envelope (notifier:// with driver=kafka, topic `<topic>.sample`).
     * Default [ceilometer, metering.sample].
     */
    topics: z.array(z.string().min(1)).min(1).default(['ceilometer', 'metering.sample']),
    /** Start a new group at the earliest offset (true) or only take new messages (false). Default true. */
    fromBeginning: z.boolean().default(true),
    /** Longest a fetch waits on the broker for new messages, in ms (also bounds how long a graceful stop waits). Default 1000. */
    fetchMaxWaitMs: z.number().int().min(0).default(1000),
    /** Topic receiving dead letters when ingest.deadLetter is kafka or both. Default `metering.dead-letter`. */
    deadLetterTopic: z.string().min(1).default('metering.dead-letter'),
  })
  .prefault({});
export type KafkaConfig = z.output<typeof kafkaConfig>;
