import { createHash } from 'node:crypto';
import { parseKafkaValue, payloadPositions, type NormalizeOptions } from '../ceilometer/normalize';
import { BackpressureError } from '../ingest/backpressure';
import type { MessageOrigin, RejectInput } from '../ingest/dead-letter';
import type { Ingestor, SampleOrigin } from '../ingest/ingestor';
import { TRANSPORT_HEADER, type DurableLog } from '../durable/log';
import { keyOfSamples } from '../durable/keys';
import type { Sample } from '../sample';
import { msgpackToJson, MsgpackError } from './msgpack';

/**
 * One msgpack meter message from the udp:// or tcp:// publisher, from bytes to accepted:
 * decode (malformed → dead letter), parse and check the signature like every other transport
 * (invalid → dead letter), then either append the message to the durable ingest log (acceptance `log`)
 * or hand its sample to the Ingestor (acceptance `store`). Counts what arrived, was malformed, rejected,
 * accepted (store) or logged (log: not yet screened), and dropped under back-pressure; the counters are
 * exported at /metrics (the logged ones by the ingestor's counters, beside its per-transport refusals).
 */

export interface ListenerCounters {
  arrived: number;
  malformed: number;
  /** Samples the parser rejected (invalid field, bad signature); with acceptance `store` also those the ingestor refused. */
  rejected: number;
  /** Acceptance `store`: samples the ingestor took in (screened, stored or found already stored). */
  accepted: number;
  /**
   * Acceptance `log`: valid samples appended to the durable ingest log (not yet screened: the
   * ingestor's refusals at drain time are `metering_ingest_{udp,tcp}_samples_refused_total`).
   */
  logged: number;
  /** Valid samples given up because ingestion pushed back (UDP only: a datagram cannot be held). */
  dropped: number;
}

export interface IntakeOptions {
  transport: MessageOrigin['source'];
  ingestor: Ingestor;
  /** With a durable log, valid messages are appended there and the store writer drains it. */
  log?: DurableLog;
  parseOptions: NormalizeOptions;
}

/** A message's valid part: its JSON text (what goes to the log), its samples and where each came from. */
export interface Decoded {
  value: Buffer;
  samples: Sample[];
  /** By sample: the message and the sample's position in it (what its dead letter says). */
  origins?: SampleOrigin[];
}

export class MeterMessageIntake {
  readonly counters: ListenerCounters = { arrived: 0, malformed: 0, rejected: 0, accepted: 0, logged: 0, dropped: 0 };

  constructor(private readonly opts: IntakeOptions) {}

  /**
   * Decode, parse and check one message: malformed ones and invalid samples are counted and
   * dead-lettered here; the valid part is returned for `accept` (undefined when there is none).
   */
  async decode(message: Buffer): Promise<Decoded | undefined> {
    this.counters.arrived++;
    const origin: MessageOrigin = { source: this.opts.transport, key: createHash('sha256').update(message).digest('hex').slice(0, 32) };
    let json: string;
    try {
      json = msgpackToJson(message);
    } catch (err) {
      if (!(err instanceof MsgpackError)) throw err;
      this.counters.malformed++;
      await this.deadLetter([{ index: -1, reason: err.message, payload: message.toString('base64'), origin }]);
      return undefined;
    }
    const value = Buffer.from(json, 'utf8');
    const parsed = parseKafkaValue(value, this.opts.parseOptions);
    if (parsed.rejects.length > 0) {
      this.counters.rejected += parsed.rejects.length;
      await this.deadLetter(parsed.rejects.map((r) => ({ ...r, origin })));
    }
    if (parsed.samples.length === 0) return undefined;
    const origins: SampleOrigin[] = payloadPositions(parsed).map((index) => ({ message: origin, index }));
    return { value, samples: parsed.samples, origins };
  }

  /**
   * Accept decoded messages (one, or several at once: one log append / one submission): append them to
   * the durable log, or write them through the Ingestor. Resolves once durable there; throws
   * BackpressureError when ingestion pushes back.
   */
  async accept(d: Decoded | readonly Decoded[]): Promise<void> {
    const all = Array.isArray(d) ? (d as readonly Decoded[]) : [d as Decoded];
    if (all.length === 0) return;
    if (this.opts.log) await this.opts.log.append(all.map((x) => ({ key: keyOfSamples(x.samples), value: x.value, headers: { [TRANSPORT_HEADER]: this.opts.transport } })));
    else {
      // samples the ingestor refuses (what the store cannot hold, implausible) count as rejected
      const r = await this.opts.ingestor.submit(all.flatMap((x) => x.samples), [], all.flatMap((x) => x.samples.map((_, i) => x.origins?.[i])), this.opts.transport);
      this.counters.accepted += r.accepted;
      this.counters.rejected += r.rejected;
      return;
    }
    // in the log, not yet screened: the drain counts what its screen refuses against this transport
    const n = all.reduce((a, x) => a + x.samples.length, 0);
    this.counters.logged += n;
    if (this.opts.transport !== 'amqp') this.opts.ingestor.metrics.recordLogged(this.opts.transport, n);
  }

  /** Count and dead-letter a message refused before decoding (e.g. longer than the limit). */
  async refuse(reason: string, head: Buffer): Promise<void> {
    this.counters.arrived++;
    this.counters.malformed++;
    const origin: MessageOrigin = { source: this.opts.transport, key: createHash('sha256').update(head).digest('hex').slice(0, 32) };
    await this.deadLetter([{ index: -1, reason, payload: head.subarray(0, 1024).toString('base64'), origin }]);
  }

  /** Count a valid message given up under back-pressure (UDP). */
  drop(): void {
    this.counters.dropped++;
  }

  /** Best effort: a dead letter the store cannot take now is only counted (the message was invalid anyway). */
  private async deadLetter(rejects: RejectInput[]): Promise<void> {
    await this.opts.ingestor.submit([], rejects, undefined, this.opts.transport).catch(() => undefined);
  }

  /** Prometheus-style counters for /metrics. */
  snapshot(): Record<string, number> {
    const t = this.opts.transport;
    const c = this.counters;
    return {
      [`metering_ingest_${t}_messages_arrived_total`]: c.arrived,
      [`metering_ingest_${t}_messages_malformed_total`]: c.malformed,
      [`metering_ingest_${t}_samples_rejected_total`]: c.rejected,
      [`metering_ingest_${t}_samples_accepted_total`]: c.accepted,
      [`metering_ingest_${t}_samples_dropped_total`]: c.dropped,
    };
  }
}

/** Accept, retrying while ingestion pushes back (TCP holds the connection meanwhile); gives up when `live` turns false. */
export async function acceptHolding(intake: MeterMessageIntake, decoded: Decoded | readonly Decoded[], live: () => boolean): Promise<void> {
  for (;;) {
    try {
      await intake.accept(decoded);
      return;
    } catch (err) {
      if (!(err instanceof BackpressureError) || err.reason === 'closed' || !live()) throw err;
      await new Promise((r) => setTimeout(r, err.retryAfterSeconds * 1000));
    }
  }
}
