import { existsSync } from 'node:fs';
import { z } from 'zod';
import { tcpListenerConfig, udpListenerConfig } from './listeners/config';
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
    uri: z
      .string()
      .min(1)
      .regex(/^mongodb(\+srv)?:\/\/\S+$/, 'expected a mongodb:// or mongodb+srv:// connection string')
      .default('mongodb://127.0.0.1:27017'),
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
    /** Whether `meter` is (or will be) sharded on `shardKey`. Default false: unique {project_id: 1, message_id: 1}. */
    sharded: z.boolean().default(false),
    /** How long to wait for a reachable server before a write fails, in ms. Default 5000. */
    serverSelectionTimeoutMs: z.number().int().positive().default(5000),
    /**
     * Resources whose last written state each writer remembers (LRU), so that a sample changing nothing
     * about its resource (same meter, same metadata, owner) costs no `resource` upsert. Default 100000
     * (about 50 MB at most); 0 writes the upserts for every sample, as Ceilometer did.
     */
    resourceCacheSize: z.number().int().min(0).default(100_000),
    /**
     * Largest lag of `resource.last_sample_timestamp` behind the newest stored sample, in seconds, that
     * the resource cache may leave to save writes (a newer sample within it, changing nothing else, is
     * not written to `resource`). Default 600 (Ceilometer's default polling interval); 0 = write whenever
     * the last timestamp moves.
     */
    resourceGranularitySeconds: z.number().int().min(0).default(600),
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
    /** Consecutive failed batch writes, each with a failed probe, after which the store counts as down (new submissions get 503, /readyz not ready). Default 3. */
    storeDownAfterFailures: z.number().int().positive().default(3),
    /** Average batch write latency (ms, moving average) above which the store counts as slow: new work gets 429 while a backlog exists. Default 2000. */
    slowWriteMs: z.number().int().positive().default(2000),
    /** First retry delay of a failed batch, in ms; doubles per failure. Default 100. */
    retryInitialMs: z.number().int().positive().default(100),
    /** Largest retry delay, in ms. Default 5000. */
    retryMaxMs: z.number().int().positive().default(5000),
    /**
     * Every failed batch write is followed by a probe (a tiny write): when the store takes it, the failure
     * is the batch's own and does not count against store health. After this many such failures the batch
     * is split in halves, and a single sample that still fails is dead-lettered with the store's reason.
     * While the store is down (the probe fails too) nothing is split or dropped. Default 5.
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
    /** Most sample items one HTTP body (or one submission on any transport) may hold; a bigger body gets 413 and nothing of it is taken. Default 10000. */
    maxItemsPerBody: z.number().int().positive().default(10_000),
    /** Most rejects listed one by one in an HTTP answer; the rest are counted per reason (`rejectsNotListed`, `rejectReasons`). Default 100. */
    maxRejectsListed: z.number().int().min(0).default(100),
    /**
     * Most dead-letter documents one submission writes one by one; the rest of its rejects go into one
     * summary document (count per reason, their positions and payloads up to 1 MiB). Default 1000.
     */
    maxDeadLettersPerSubmission: z.number().int().positive().default(1000),
    /**
     * Longest an HTTP ingest request waits for its samples to be written, in ms. After it the caller gets
     * 503 with Retry-After; sending the same body again is safe (what did land counts as duplicates).
     * Default 30000.
     */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Deepest resource_metadata nesting accepted (dotted keys count one level per part; MongoDB's own limit is 100). Default 32. */
    maxMetadataDepth: z.number().int().min(1).max(90).default(32),
    /** Plausibility of volumes and timestamps: samples breaking a rule are dead-lettered with the rule's name. */
    plausibility: z
      .strictObject({
        /** Largest absolute volume accepted (0: no limit). Default 1e18. */
        maxAbsVolume: z.number().nonnegative().default(1e18),
        /** Refuse cumulative counters with a negative volume. Default true. */
        rejectNegativeCumulative: z.boolean().default(true),
        /** Oldest timestamp accepted, in seconds before arrival (0: no limit). Default 788923800 (25 years: replays of 2013 traces pass, year 0001 does not). */
        maxPastSeconds: z.number().int().nonnegative().default(788_923_800),
        /** Newest timestamp accepted, in seconds after arrival (0: no limit). Default 604800 (7 days). */
        maxFutureSeconds: z.number().int().nonnegative().default(604_800),
      })
      .prefault({}),
    /**
     * Ceilometer's `[publisher_notifier] metering_topic` values: a notification (Kafka or AMQP) whose
     * event_type is one of them, or `<topic>.<meter>` (the notifier's per_meter_topic), carries samples.
     * amqp.topics and the `<topic>` of every kafka.topics entry named `<topic>.sample` are accepted too.
     * Default [metering].
     */
    meteringTopics: z.array(z.string().min(1)).min(1).default(['metering']),
    /**
     * When a sample sent over HTTP, UDP or TCP counts as accepted (HTTP 200): `log` once it is durable in
     * the Kafka ingest topic (kafka.ingestTopic, acknowledged by all in-sync replicas; the store writer
     * drains it behind, exactly once by message id), so a slow or down store never makes a sender that
     * does not retry (Ceilometer's http:// publisher drops a batch on any HTTP error) lose data; `store`
     * once written to MongoDB (429/503 while the store is slow or down); `auto` (default): `log` when
     * kafka.enabled, else `store`. See docs/ingestion.md for the trade-off.
     */
    acceptance: z.enum(['auto', 'log', 'store']).default('auto'),
    /** Listener for Ceilometer's udp:// publisher (msgpack datagrams). */
    udp: udpListenerConfig,
    /** Listener for Ceilometer's tcp:// publisher (length-prefixed msgpack). */
    tcp: tcpListenerConfig,
  })
  .prefault({});
export type IngestConfig = z.output<typeof ingestConfig>;

/** The Kafka consumer of Ceilometer's kafka:// publisher and oslo notifier (driver=kafka) output. */
export const kafkaConfig = z
  .strictObject({
    /** Whether the controller runs the consumer. Default false. */
    enabled: z.boolean().default(false),
    /** Bootstrap brokers, host:port. Default [127.0.0.1:9092]. Environment override: KAFKA_BROKERS (comma separated). */
    brokers: z
      .array(z.string().regex(/^([^\s:/[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, 'expected host:port'))
      .min(1)
      .default(['127.0.0.1:9092']),
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
    /**
     * How long the group waits for a consumer's heartbeat before it gives that consumer's partitions to
     * the others, in ms: after a controller is killed, its partitions stand still this long (Kafka's
     * group.min/max.session.timeout.ms bound it, by default 6000–1800000). Default 30000.
     */
    sessionTimeoutMs: z.number().int().min(1000).max(1_800_000).default(30_000),
    /** How often the consumer heartbeats to the group, in ms; at most a third of sessionTimeoutMs. Default 3000. */
    heartbeatIntervalMs: z.number().int().min(100).max(600_000).default(3_000),
    /** Topic receiving dead letters when ingest.deadLetter is kafka or both. Default `metering.dead-letter`. */
    deadLetterTopic: z.string().min(1).default('metering.dead-letter'),
    /** TLS to the brokers (their SSL or SASL_SSL listener), for the consumer, producers and admin client alike. */
    ssl: z
      .strictObject({
        /** Speak TLS to the brokers. Default false. */
        enabled: z.boolean().default(false),
        /** PEM CA bundle the brokers' certificates must chain to (default: the system's trusted CAs). */
        ca: z.string().min(1).optional(),
        /** PEM client certificate, for brokers with ssl.client.auth=required. */
        cert: z.string().min(1).optional(),
        /** PEM private key of `cert`. */
        key: z.string().min(1).optional(),
      })
      .prefault({})
      .superRefine((t, ctx) => {
        if (Boolean(t.cert) !== Boolean(t.key)) ctx.addIssue({ code: 'custom', path: [t.cert ? 'key' : 'cert'], message: 'cert and key go together' });
        for (const field of ['ca', 'cert', 'key'] as const) {
          const file = t[field];
          if (file && !existsSync(file)) ctx.addIssue({ code: 'custom', path: [field], message: `file not found: ${file}` });
        }
        if (!t.enabled && (t.ca || t.cert)) ctx.addIssue({ code: 'custom', path: ['enabled'], message: 'ca/cert are set but enabled is false: set enabled: true to use them' });
      }),
    /** SASL authentication (SASL_PLAINTEXT, or SASL_SSL together with ssl.enabled). */
    sasl: z
      .strictObject({
        /** none, plain, scram-sha-256 or scram-sha-512. Default none. */
        mechanism: z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512']).default('none'),
        /** SASL user name. */
        username: z.string().default(''),
        /** SASL password: a secret (`${ENV}` or `file:/path`; redacted when printed or logged). */
        password: z.string().default(''),
      })
      .prefault({})
      .superRefine((t, ctx) => {
        if (t.mechanism !== 'none' && !t.username) ctx.addIssue({ code: 'custom', path: ['username'], message: `mechanism ${t.mechanism} needs a username` });
        if (t.mechanism !== 'none' && !t.password) ctx.addIssue({ code: 'custom', path: ['password'], message: `mechanism ${t.mechanism} needs a password` });
      }),
    /**
     * Pipelining bound: most message bytes fetched and parsed but not yet durably written and committed.
     * The consumer parses the next batch while earlier ones are written, up to this many bytes; offsets are
     * still committed in order and only after the durable write. Default 16 MiB; 0 = one batch at a time.
     */
    pipelineMaxBytes: z.number().int().min(0).default(16 * 1024 * 1024),
    /**
     * The durable ingest log (ingest.acceptance `log`): HTTP bodies and UDP/TCP messages are appended
     * here before they are acknowledged; the consumer drains it into the store. Created on start-up with
     * max.message.bytes large enough for ingest.maxBodyBytes. Default `metering.ingest`.
     */
    ingestTopic: z.string().min(1).default('metering.ingest'),
  })
  .superRefine((c, ctx) => {
    if (c.heartbeatIntervalMs * 3 > c.sessionTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['heartbeatIntervalMs'], message: `must be at most a third of sessionTimeoutMs (${c.sessionTimeoutMs}), or the group drops live consumers` });
    }
  })
  .prefault({});
export type KafkaConfig = z.output<typeof kafkaConfig>;
