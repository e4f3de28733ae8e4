import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../../lib/log';
import type { KafkaConfig } from '../config';

/** A KafkaJS client whose log lines go to the product's pino logger (warnings and errors only). */
export function createKafka(config: Pick<KafkaConfig, 'brokers' | 'clientId'>, log?: Logger): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
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
    if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic, ...(numPartitions !== undefined ? { numPartitions } : {}) })), waitForLeaders: true });
    return missing;
  } finally {
    await admin.disconnect();
  }
}
