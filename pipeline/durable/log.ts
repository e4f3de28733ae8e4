import type { IHeaders, Producer } from 'kafkajs';
import { BackpressureError } from '../ingest/backpressure';

/**
 * The durable ingest log: the Kafka topic (`kafka.ingestTopic`) that HTTP, UDP and TCP input is
 * appended to before it is acknowledged, when `ingest.acceptance` is `log`. Appends wait for every
 * in-sync replica (acks=-1); only then does the sender get its 200. The Kafka consumer drains the topic
 * into the store with its usual guarantees (offsets committed after the durable write, duplicates by
 * message id not stored again), so the effect end to end stays exactly once.
 */

/** Kafka header naming how a record's value is to be parsed (absent: a Kafka value as Ceilometer sends it). */
export const FORM_HEADER = 'metering-form';
/** The value is an HTTP publisher body (a list of Sample.as_dict() or counter_* items). */
export const HTTP_BODY_FORM = 'http-body';
/** Kafka header carrying the project a token was scoped to: samples of other projects are refused. */
export const PROJECT_HEADER = 'metering-project';
/**
 * Kafka header naming the transport a record's samples arrived by (http, udp, tcp): the drain counts
 * the samples its screen refuses against that transport (absent: a Ceilometer Kafka record).
 */
export const TRANSPORT_HEADER = 'metering-transport';

export interface LogRecord {
  /** The resource_id of the record's samples (Kafka's partitioner keeps one resource on one partition); null when it names none. */
  key?: string | null;
  value: Buffer | string;
  headers?: IHeaders;
}

export class DurableLog {
  appended = 0;
  failures = 0;

  constructor(
    private readonly producer: Producer,
    readonly topic: string,
  ) {}

  /**
   * Append and wait for all in-sync replicas. A log that cannot take them is a BackpressureError 503
   * (`log-down`): the sender is told to retry, nothing was acknowledged.
   */
  async append(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      await this.producer.send({ topic: this.topic, acks: -1, messages: records.map((r) => ({ key: r.key ?? null, value: r.value, headers: r.headers })) });
      this.appended += records.length;
    } catch (err) {
      this.failures++;
      throw new BackpressureError(503, 2, 'log-down', `the ingest log (Kafka topic ${this.topic}) did not take the samples: ${(err as Error).message}`);
    }
  }
}
