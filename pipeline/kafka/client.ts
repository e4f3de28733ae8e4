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
