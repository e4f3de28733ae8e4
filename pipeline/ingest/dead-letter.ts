import { randomUUID } from 'node:crypto';
import type { Db, WriteConcernSettings } from 'mongodb';
import { MongoBulkWriteError } from 'mongodb';
import type { Producer } from 'kafkajs';
import { COLLECTIONS } from '../store/layout';
import { onlyDuplicateKeys } from '../store/bulk-errors';

/**
 * Dead letters: samples that could not be stored (parse/validation failures, a signature that does not
 * verify under signaturePolicy reject, a document the store refuses for good), kept with the reason and
 * the original payload text so an operator can inspect and replay them. Valid samples of the same
 * request or Kafka batch are stored regardless.
 */

/** A per-sample reject as the Ceilometer parsers report it. */
export interface Reject {
  /** Position of the sample in its request body / Kafka message payload. */
  index: number;
  reason: string;
  /** The original text of the offending sample (or of the whole message when it did not parse). */
  payload: unknown;
  message_id?: string;
}

/** Where in Kafka a rejected sample came from. */
export interface KafkaPosition {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Where a reject from another transport came from: the transport and a key that is the same when the
 * same message is delivered again (AMQP: a digest of the message body), so redelivery does not
 * dead-letter a sample twice.
 */
export interface MessageOrigin {
  source: 'amqp' | 'udp' | 'tcp';
  key: string;
}

/** A reject handed to the ingestor; Kafka rejects carry their message position, other transports their origin. */
export type RejectInput = Reject & { kafka?: KafkaPosition; origin?: MessageOrigin };

export interface DeadLetterDoc {
  _id: string;
  received_at: Date;
  source: 'http' | 'kafka' | MessageOrigin['source'];
  topic?: string;
  partition?: number;
  offset?: string;
  index: number;
  reason: string;
  /** Original payload text. */
  payload: string;
  message_id?: string;
  /**
   * On the one summary document of a submission with more rejects than
   * ingest.maxDeadLettersPerSubmission: how many rejects it stands for, how many per reason, their
   * positions, and whether `payload` (a JSON list of their payloads) was cut at 1 MiB.
   */
  summary?: { count: number; reasons: Array<{ reason: string; count: number }>; indexes: number[]; payloadsTruncated: boolean };
}

function payloadText(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  try {
    return JSON.stringify(payload) ?? String(payload);
  } catch {
    return String(payload);
  }
}

/**
 * The dead-letter document for a reject. A Kafka reject's id is its position (topic/partition/offset/
 * index), so a redelivered message does not dead-letter the same sample twice; HTTP rejects get a fresh id.
 */
export function deadLetterDocument(r: RejectInput, receivedAt = new Date()): DeadLetterDoc {
  const doc: DeadLetterDoc = r.kafka
    ? {
        _id: `kafka:${r.kafka.topic}:${r.kafka.partition}:${r.kafka.offset}:${r.index}`,
        received_at: receivedAt,
        source: 'kafka',
        topic: r.kafka.topic,
        partition: r.kafka.partition,
        offset: r.kafka.offset,
        index: r.index,
        reason: r.reason,
        payload: payloadText(r.payload),
      }
    : r.origin
      ? { _id: `${r.origin.source}:${r.origin.key}:${r.index}`, received_at: receivedAt, source: r.origin.source, index: r.index, reason: r.reason, payload: payloadText(r.payload) }
      : { _id: `http:${randomUUID()}`, received_at: receivedAt, source: 'http', index: r.index, reason: r.reason, payload: payloadText(r.payload) };
  if (r.message_id) doc.message_id = r.message_id;
  return doc;
}

export interface DeadLetterSink {
  readonly name: string;
  write(letters: readonly DeadLetterDoc[]): Promise<void>;
}

/** The `dead_letter` collection. Re-writing a Kafka dead letter (same _id) is a no-op. */
export class MongoDeadLetterSink implements DeadLetterSink {
  readonly name = 'mongo';
  constructor(
    private readonly db: Db,
    private readonly writeConcern: WriteConcernSettings,
  ) {}

  async write(letters: readonly DeadLetterDoc[]): Promise<void> {
    if (!letters.length) return;
    try {
      await this.db.collection<DeadLetterDoc>(COLLECTIONS.deadLetter).insertMany(letters.map((l) => ({ ...l })), { ordered: false, writeConcern: this.writeConcern });
    } catch (err) {
      if (err instanceof MongoBulkWriteError) {
        if (onlyDuplicateKeys(err)) return;
      }
      throw err;
    }
  }
}

/** A Kafka topic: one JSON message per dead letter, keyed by message id when known. */
export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly name = 'kafka';
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  async write(letters: readonly DeadLetterDoc[]): Promise<void> {
    if (!letters.length) return;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: letters.map((l) => ({ key: l.message_id ?? l._id, value: JSON.stringify({ ...l, received_at: l.received_at.toISOString() }) })),
    });
  }
}

/** Writes to every sink (the `both` destination); fails if any fails. */
export class MultiDeadLetterSink implements DeadLetterSink {
  readonly name: string;
  constructor(private readonly sinks: readonly DeadLetterSink[]) {
    this.name = sinks.map((s) => s.name).join('+') || 'none';
  }

  async write(letters: readonly DeadLetterDoc[]): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.write(letters)));
  }
}

const SUMMARY_PAYLOAD_BYTES = 1024 * 1024;
const SUMMARY_REASONS = 100;

/**
 * Bound the dead letters of one submission (pure): the first `max` stay one document each, the rest
 * become one summary document (count per reason, positions, payloads as a JSON list cut at 1 MiB), so a
 * body of 100,000 bad items costs `max` + 1 writes, not 100,000. The summary's id derives from the
 * first folded letter's, so a redelivered Kafka batch rewrites the same document.
 */
export function foldDeadLetters(letters: readonly DeadLetterDoc[], max: number): DeadLetterDoc[] {
  if (letters.length <= max) return [...letters];
  const kept = letters.slice(0, max);
  const rest = letters.slice(max);
  const first = rest[0]!;
  const byReason = new Map<string, number>();
  for (const l of rest) {
    let key = l.reason.length > 200 ? l.reason.slice(0, 197) + '...' : l.reason;
    if (!byReason.has(key) && byReason.size >= SUMMARY_REASONS) key = '(other reasons)';
    byReason.set(key, (byReason.get(key) ?? 0) + 1);
  }
  const reasons = [...byReason].map(([reason, count]) => ({ reason, count }));
  const payloads: string[] = [];
  let bytes = 2;
  let truncated = false;
  for (const l of rest) {
    const text = JSON.stringify(l.payload);
    if (bytes + text.length + 1 > SUMMARY_PAYLOAD_BYTES) {
      truncated = true;
      break;
    }
    payloads.push(text);
    bytes += text.length + 1;
  }
  const summary: DeadLetterDoc = {
    ...first,
    _id: `${first._id}:summary`,
    reason: `${rest.length} more rejects of this submission (beyond ingest.maxDeadLettersPerSubmission ${max}), summarised in one document`,
    payload: `[${payloads.join(',')}]`,
    summary: { count: rest.length, reasons, indexes: rest.map((l) => l.index), payloadsTruncated: truncated },
  };
  delete summary.message_id;
  return [...kept, summary];
}
