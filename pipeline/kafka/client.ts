import { readCertificateSetting, readSettingFile } from '../../lib/setting-file';
import { Kafka, logLevel, type Admin, type KafkaConfig as KafkaJsConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../../lib/log';
import type { KafkaConfig } from '../config';

type KafkaClientSettings = Pick<KafkaConfig, 'brokers' | 'clientId'> & Partial<Pick<KafkaConfig, 'ssl' | 'sasl'>>;

/** kafkajs' `ssl` and `sasl` options from kafka.ssl / kafka.sasl (PEM files read here, each failure naming its setting). */
export function kafkaSecurity(config: KafkaClientSettings): Pick<KafkaJsConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaJsConfig, 'ssl' | 'sasl'> = {};
  const ssl = config.ssl;
  if (ssl?.enabled) {
    const ca = readSettingFile(ssl.ca, 'kafka.ssl.ca');
    const cert = readCertificateSetting(ssl.cert, 'kafka.ssl.cert');
    const key = readSettingFile(ssl.key, 'kafka.ssl.key');
    out.ssl = { rejectUnauthorized: true, ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  const sasl = config.sasl;
  if (sasl && sasl.mechanism !== 'none') {
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
  }
  return out;
}

/** A KafkaJS client whose log lines go to the product's pino logger (warnings and errors only). */
export function createKafka(config: KafkaClientSettings, log?: Logger): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ...kafkaSecurity(config),
    logLevel: logLevel.WARN,
    retry: { retries: 5, initialRetryTime: 100 },
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const { message, ...rest } = entry.log;
      if (entry.level <= logLevel.ERROR) log.error({ kafka: entry.namespace, ...rest }, message);
      else log.warn({ kafka: entry.namespace, ...rest }, message);
    },
  });
}

/**
 * Why a connection to the brokers failed, as one sentence naming the setting to look at: TLS
 * handshake failures point at kafka.ssl, authentication failures at kafka.sasl.
 */
export function explainKafkaFailure(err: unknown, config: KafkaClientSettings): string {
  const e = err as { name?: string; message?: string; cause?: { message?: string } };
  const text = `${e.message ?? String(err)}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  const brokers = config.brokers.join(',');
  if (e.name === 'KafkaJSSASLAuthenticationError' || /SASL|authenticat/i.test(text)) {
    return `kafka.sasl: the brokers (${brokers}) refused ${config.sasl?.mechanism ?? 'SASL'} authentication for user "${config.sasl?.username ?? ''}": ${text}`;
  }
  if (/certificate|self[- ]signed|SSL|TLS|handshake|CERT_|unable to verify/i.test(text)) {
    const which = /expired/i.test(text) ? 'the broker certificate has expired (kafka.ssl)' : 'check kafka.ssl.ca (the CA the brokers\' certificates chain to) and kafka.ssl.enabled';
    return `kafka.ssl: TLS handshake with ${brokers} failed: ${text}; ${which}`;
  }
  if (config.ssl?.enabled === false && /ECONNRESET|closed|disconnect/i.test(text)) {
    return `kafka.brokers: ${brokers} closed the connection: ${text} (does the listener require TLS? set kafka.ssl.enabled)`;
  }
  return `kafka.brokers: cannot reach ${brokers}: ${text}`;
}

/** Connect an admin client once and describe the cluster: resolves, or throws an Error whose message names the setting at fault. */
export async function checkKafkaConnection(kafka: Kafka, config: KafkaClientSettings): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    throw new Error(explainKafkaFailure(err, config));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Create the topics that do not exist yet (idempotent; broker defaults for replication, and for
 * partitions unless `numPartitions` is given), so a consumer can start before Ceilometer's first
 * publish on a fresh deployment. Returns the topics it created.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly string[], numPartitions?: number): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      try {
        await admin.createTopics({ topics: missing.map((topic) => ({ topic, ...(numPartitions !== undefined ? { numPartitions } : {}) })), waitForLeaders: true });
      } catch (err) {
        // A broker that has just started can answer KafkaJS's wait for the new topics' leaders with
        // UNKNOWN_TOPIC_OR_PARTITION (its metadata cache does not hold them yet), which KafkaJS does not
        // retry: the topics were created; wait for their leaders here instead of failing the start.
        if (!isUnknownTopic(err)) throw err;
        await waitForLeaders(admin, missing);
      }
    }
    return missing;
  } finally {
    await admin.disconnect();
  }
}

function isUnknownTopic(err: unknown): boolean {
  const e = err as { type?: string; cause?: { type?: string } } | undefined;
  return e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e?.cause?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

/** Until every partition of `topics` has a leader (at most 30 s; then an Error naming them). */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const md = await admin.fetchTopicMetadata({ topics }).catch(() => undefined);
    if (md && md.topics.length === topics.length && md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    if (Date.now() > deadline) throw new Error(`Kafka topics ${topics.join(', ')} were created but have no leader after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
