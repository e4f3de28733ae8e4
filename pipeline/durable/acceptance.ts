import type { Kafka } from 'kafkajs';

/** How HTTP, UDP and TCP input is acknowledged: durable in the Kafka ingest log, or written to the store. */
export type Acceptance = 'log' | 'store';

/** `auto` is `log` with Kafka enabled, else `store`; `log` without Kafka is a configuration error. */
export function resolveAcceptance(setting: 'auto' | 'log' | 'store', kafkaEnabled: boolean): Acceptance {
  if (setting === 'store') return 'store';
  if (setting === 'log') {
    if (!kafkaEnabled) throw new Error('ingest.acceptance is log, but the ingest log needs Kafka: set kafka.enabled: true (or ingest.acceptance: store)');
    return 'log';
  }
  return kafkaEnabled ? 'log' : 'store';
}

/**
 * Create the ingest topic if missing, with max.message.bytes large enough for the largest HTTP body
 * (Kafka's 1 MiB default would refuse a big http:// publisher batch) and min.insync.replicas left to
 * the broker. Replication is the broker's default (a single-broker test cluster has one replica).
 */
export async function ensureIngestTopic(kafka: Kafka, topic: string, maxBodyBytes: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (existing.has(topic)) return;
    await admin.createTopics({
      topics: [{ topic, configEntries: [{ name: 'max.message.bytes', value: String(maxBodyBytes + 64 * 1024) }] }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}
