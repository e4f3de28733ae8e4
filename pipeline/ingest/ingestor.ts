import type { Logger } from '../../lib/log';
import type { IngestConfig } from '../config';
import type { Sample, StoredSample } from '../sample';
import { prepareSample, storedSample, type PreparedSample } from '../store/layout';
import type { BatchWriteResult } from '../store/writer';
import { admission, BackpressureError, StoreHealth } from './backpressure';
import { deadLetterDocument, foldDeadLetters, type DeadLetterDoc, type DeadLetterSink, type KafkaPosition, type MessageOrigin, type RejectInput } from './dead-letter';
import { screenSamples } from './screen';
import { IngestMetrics } from './metrics';
import { ObserverHub } from './observer-hub';

/**
 * The ingestion path between the input adapters (HTTP route, Kafka consumer) and the store:
 *  - `submit` admits a request's samples into a bounded in-flight buffer (or pushes back at once with a
 *    BackpressureError: 429 buffer full / store slow, 503 store down) and resolves only once every one
 *    of them is durably written (or found already stored) and its rejects are dead-lettered;
 *  - samples of concurrent submitters are batched by count, bytes and age and written with at most
 *    `maxConcurrentBatches` writes in flight;
 *  - a failed batch is retried with exponential backoff until it succeeds: accepted work is never
 *    dropped, and the store's unique message-id index makes the retries harmless;
 *  - after each write the freshly stored samples go to the observer hub.
 */

/** What the ingestor needs from the store (MeterStoreWriter, or a test double around it). */
export interface BatchWriter {
  writeBatch(batch: readonly PreparedSample[]): Promise<BatchWriteResult>;
  /** A tiny write that succeeds whenever the store takes writes (tells a bad batch from a store outage). */
  probe(): Promise<void>;
}

export interface SubmitResult {
  /** Valid samples taken in. */
  accepted: number;
  /** Of those, newly stored. */
  stored: number;
  /** Of those, already in the store (redelivery): not stored again. */
  duplicates: number;
  /** Invalid samples of the submission plus samples the store refused for good. */
  rejected: number;
  /** Rejected samples written to the dead-letter destination. */
  deadLettered: number;
  /**
   * Samples refused here (position in the submission, reason), beside the submitter's own rejects: the
   * ones the store cannot hold or that break a plausibility rule (refused before any write), and the
   * ones the store refused for good.
   */
  refusals: Array<{ index: number; reason: string; message_id: string }>;
}

export interface IngestorOptions {
  config: IngestConfig;
  writer: BatchWriter;
  hub?: ObserverHub;
  /** Dead-letter destination; without one rejects are counted but kept nowhere (`deadLetter: none`). */
  deadLetters?: DeadLetterSink;
  log?: Logger;
}

interface Submission {
  /** The submitting adapter (http, kafka, amqp, udp, tcp). */
  transport: string;
  pending: number;
  result: SubmitResult;
  deadLetterWork: Promise<void>;
  done: boolean;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
}

interface Item {
  prepared: PreparedSample;
  owner: Submission;
  /** Position of the sample in its submission. */
  index: number;
  origin?: SampleOrigin;
}

/**
 * Where a submitted sample came from: its dead letter says so (transport, message, position) and, for a
 * redelivered message, is the same document rather than a second one.
 */
export interface SampleOrigin {
  /** Kafka: the record's position. */
  kafka?: KafkaPosition;
  /** AMQP, UDP, TCP: the transport and the delivered message's key. */
  message?: MessageOrigin;
  /** Position of the sample in its message's payload. */
  index: number;
  /**
   * The transport the sample arrived by when it differs from the submitter's (a sample of the durable
   * ingest log: http, udp or tcp, drained by the Kafka consumer); its refusal is counted against it.
   */
  transport?: string;
  /**
   * When the sample was accepted, if before this submission: an ingest-log record's append time. The
   * plausibility screen counts its timestamp rules from it (an outage does not make it late).
   */
  acceptedAt?: Date;
}

/** The dead-letter fields of a sample's origin (none without one: an HTTP submission). */
function originFields(o: SampleOrigin | undefined): Pick<RejectInput, 'kafka' | 'origin'> {
  if (!o) return {};
  return { ...(o.kafka ? { kafka: o.kafka } : {}), ...(o.message ? { origin: o.message } : {}) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const DEAD_LETTER_ATTEMPTS = 5;
/** MongoDB's largest document (16 MiB). */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

export class Ingestor {
  readonly config: IngestConfig;
  readonly hub: ObserverHub;
  readonly metrics: IngestMetrics;
  readonly health: StoreHealth;
  private readonly writer: BatchWriter;
  private readonly deadLetters?: DeadLetterSink;
  private readonly log?: Logger;

  private queue: Item[] = [];
  private queuedBytes = 0;
  private inFlightSamples = 0;
  private inFlightBytes = 0;
  private activeBatches = 0;
  private ageTimer: NodeJS.Timeout | undefined;
  private ageDue = false;
  private closing = false;
  private aborted: Error | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly wakeups = new Set<() => void>();
  /** Submissions not yet resolved or rejected. */
  private readonly open = new Set<Submission>();

  constructor(opts: IngestorOptions) {
    this.config = opts.config;
    this.writer = opts.writer;
    this.hub = opts.hub ?? new ObserverHub(opts.log);
    this.deadLetters = opts.deadLetters;
    this.log = opts.log;
    this.health = new StoreHealth(opts.config);
    this.metrics = new IngestMetrics(() => ({
      inFlightSamples: this.inFlightSamples,
      inFlightBytes: this.inFlightBytes,
      storeUp: !this.health.down,
      writeLatencyAvgMs: this.health.latencyAvgMs,
      observerFailures: this.hub.totalFailures,
    }));
  }

  /** Samples accepted and not yet written, their bytes, and the part not yet handed to a write. */
  get buffer(): { inFlightSamples: number; inFlightBytes: number; queuedSamples: number; activeBatches: number } {
    return { inFlightSamples: this.inFlightSamples, inFlightBytes: this.inFlightBytes, queuedSamples: this.queue.length, activeBatches: this.activeBatches };
  }

  /**
   * Take in one request's (or Kafka batch's) valid samples and rejects. Resolves once the samples are
   * durably stored and the rejects dead-lettered; rejects at once with BackpressureError (429/503) or
   * SubmissionTooLargeError (413) without taking anything in. `origins` (by sample) say where each
   * came from, for its dead letter; `transport` names the input adapter (http, kafka, amqp, udp, tcp)
   * for the per-transport counters.
   */
  submit(samples: readonly Sample[], rejects: readonly RejectInput[] = [], origins?: readonly (SampleOrigin | undefined)[], transport = 'http'): Promise<SubmitResult> {
    if (this.aborted || this.closing) {
      return Promise.reject(new BackpressureError(503, 1, 'closed', 'ingestion is shutting down'));
    }
    const recordedAt = new Date();
    // Refused before any write: what the store cannot hold as sent, and implausible volumes/timestamps.
    const screened = screenSamples(samples, this.config, recordedAt, origins?.some((o) => o?.acceptedAt) ? origins.map((o) => o?.acceptedAt) : undefined);
    const prepared: PreparedSample[] = [];
    const positions: number[] = [];
    const refusals: SubmitResult['refusals'] = screened.refused.map((r) => ({ index: r.index, reason: r.reason, message_id: r.sample.message_id }));
    const letterOf = (index: number, reason: string, payload: string, message_id: string): RejectInput => {
      const o = origins?.[index];
      return { index: o ? o.index : index, reason, payload, message_id, ...originFields(o) };
    };
    const refusedLetters: RejectInput[] = screened.refused.map((r) => letterOf(r.index, r.reason, JSON.stringify(r.sample), r.sample.message_id));
    for (const { sample, index } of screened.kept) {
      const p = prepareSample(sample, recordedAt);
      if (p.bsonSize > MAX_DOCUMENT_BYTES) {
        const reason = `sample: its meter document is ${p.bsonSize} bytes of BSON, over MongoDB's ${MAX_DOCUMENT_BYTES}-byte document limit`;
        refusals.push({ index, reason, message_id: sample.message_id });
        refusedLetters.push(letterOf(index, reason, JSON.stringify(sample).slice(0, 64 * 1024), sample.message_id));
        continue;
      }
      prepared.push(p);
      positions.push(index);
    }
    let bytes = 0;
    for (const p of prepared) bytes += p.bsonSize;
    const refusal = admission(
      this.config,
      this.health,
      { inFlightSamples: this.inFlightSamples, inFlightBytes: this.inFlightBytes, queuedSamples: this.queue.length },
      prepared.length,
      bytes,
      this.drainPerSecond(),
    );
    if (refusal) {
      if (refusal instanceof BackpressureError) {
        if (refusal.status === 429) this.metrics.backpressure429++;
        else this.metrics.backpressure503++;
      }
      return Promise.reject(refusal);
    }

    this.metrics.recordAccepted(transport, prepared.length, rejects.length + refusals.length);
    // the screen's refusals, each against the transport its sample arrived by
    for (const r of refusals) this.metrics.recordRefused(origins?.[r.index]?.transport ?? transport);
    return new Promise<SubmitResult>((resolve, reject) => {
      const sub: Submission = {
        transport,
        pending: prepared.length,
        result: { accepted: prepared.length, stored: 0, duplicates: 0, rejected: rejects.length + refusals.length, deadLettered: 0, refusals },
        deadLetterWork: Promise.resolve(),
        done: false,
        resolve: (r) => {
          this.open.delete(sub);
          resolve(r);
        },
        reject: (e) => {
          this.open.delete(sub);
          reject(e);
        },
      };
      this.open.add(sub);
      const letters = [...rejects, ...refusedLetters].map((r) => deadLetterDocument(r, recordedAt));
      sub.deadLetterWork = this.deadLetter(foldDeadLetters(letters, this.config.maxDeadLettersPerSubmission), sub, letters.length);
      sub.deadLetterWork.catch(() => undefined); // observed in maybeFinish; avoid an unhandled-rejection report meanwhile
      this.inFlightSamples += prepared.length;
      this.inFlightBytes += bytes;
      prepared.forEach((p, i) => {
        const origin = origins?.[positions[i]!];
        this.queue.push({ prepared: p, owner: sub, index: positions[i]!, ...(origin ? { origin } : {}) });
      });
      this.queuedBytes += bytes;
      this.maybeFinish(sub);
      this.pump();
    });
  }

  /** Write everything queued now (no waiting for the batch age) and resolve when nothing is in flight. */
  async flush(): Promise<void> {
    this.ageDue = true;
    this.pump();
    if (this.inFlightSamples === 0 && this.activeBatches === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Stop taking work, then write everything already accepted. */
  async close(): Promise<void> {
    this.closing = true;
    await this.flush();
    if (this.ageTimer) clearTimeout(this.ageTimer);
  }

  /**
   * Give up on everything in flight (a crash, or shutting down a Kafka consumer that will be redelivered
   * its uncommitted messages): pending submissions reject with `reason`, retries stop. Writes already
   * sent to the server may still land; redelivery finds them as duplicates.
   */
  abort(reason: Error = new Error('ingestion aborted')): void {
    this.aborted = reason;
    this.closing = true;
    if (this.ageTimer) clearTimeout(this.ageTimer);
    const owners = new Set(this.open);
    this.inFlightSamples -= this.queue.length;
    this.inFlightBytes -= this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    for (const o of owners) this.fail(o, reason);
    for (const w of this.wakeups) w();
  }

  /**
   * Why ingestion refuses new work right now (the readiness answer), or undefined while it takes work:
   * shutting down, or the store down (only an unavailable store counts: a sample the store refuses
   * while taking other writes is isolated without touching store health).
   */
  refusing(): string | undefined {
    if (this.aborted || this.closing) return 'ingestion is shutting down';
    if (this.health.down) return `metering store unavailable (${this.health.consecutiveFailures} consecutive failed writes, probe failing)`;
    return undefined;
  }

  private drainPerSecond(): number {
    const avg = this.health.latencyAvgMs;
    if (avg <= 0) return this.config.batchMaxSamples * this.config.maxConcurrentBatches;
    return (this.config.batchMaxSamples * this.config.maxConcurrentBatches * 1000) / avg;
  }

  private pump(): void {
    while (this.activeBatches < this.config.maxConcurrentBatches && this.queue.length > 0) {
      const full = this.queue.length >= this.config.batchMaxSamples || this.queuedBytes >= this.config.batchMaxBytes;
      if (!full && !this.ageDue && this.config.batchMaxAgeMs > 0) break;
      const batch = this.takeBatch();
      this.activeBatches++;
      void this.runBatch(batch);
    }
    if (this.queue.length === 0) {
      this.ageDue = false;
      if (this.ageTimer) {
        clearTimeout(this.ageTimer);
        this.ageTimer = undefined;
      }
    } else if (!this.ageTimer && !this.ageDue) {
      this.ageTimer = setTimeout(() => {
        this.ageTimer = undefined;
        this.ageDue = true;
        this.pump();
      }, this.config.batchMaxAgeMs);
    }
    this.notifyIdle();
  }

  private takeBatch(): Item[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.config.batchMaxSamples) {
      const b = this.queue[n]!.prepared.bsonSize;
      if (n > 0 && bytes + b > this.config.batchMaxBytes) break;
      bytes += b;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.queuedBytes -= bytes;
    if (this.queue.length === 0) this.ageDue = false;
    return batch;
  }

  private async runBatch(batch: Item[]): Promise<void> {
    const prepared = batch.map((i) => i.prepared);
    let bytes = 0;
    for (const p of prepared) bytes += p.bsonSize;
    try {
      await this.writeUntilDone(batch);
    } finally {
      this.activeBatches--;
      this.inFlightSamples -= prepared.length;
      this.inFlightBytes -= bytes;
      this.pump();
    }
  }

  /**
   * Write a batch, retrying with backoff until it is written. After every failure the store is probed
   * with a tiny write: only when the probe fails too does the failure count against store health (the
   * store is unavailable, the batch waits whole). When the store takes the probe, the batch itself is at
   * fault: after `isolateAfterFailures` such faults it is split in halves (each written the same way),
   * and a single sample that still fails is refused and dead-lettered with the store's reason. So one
   * sample the store refuses for good never makes the store read as down.
   */
  private async writeUntilDone(batch: Item[]): Promise<void> {
    const prepared = batch.map((i) => i.prepared);
    let faults = 0;
    for (let attempt = 1; ; attempt++) {
      if (this.aborted) {
        for (const o of new Set(batch.map((i) => i.owner))) this.fail(o, this.aborted);
        return;
      }
      let res: BatchWriteResult;
      try {
        res = await this.writer.writeBatch(prepared);
      } catch (err) {
        this.metrics.batchFailures++;
        if (!(await this.storeTakesWrites())) {
          this.health.recordFailure();
        } else {
          this.health.recordAvailable();
          faults++;
          if (faults >= this.config.isolateAfterFailures) {
            if (batch.length > 1) {
              const half = Math.ceil(batch.length / 2);
              this.log?.warn({ err: (err as Error).message, attempt, samples: batch.length }, 'store takes writes but refuses this batch: splitting it to find the sample at fault');
              await this.writeUntilDone(batch.slice(0, half));
              await this.writeUntilDone(batch.slice(half));
              return;
            }
            const reason = `the store refused this sample ${faults} times while taking other writes: ${(err as Error).message}`;
            this.log?.warn({ message_id: prepared[0]!.sample.message_id, err: (err as Error).message }, 'sample refused by the store; dead-lettered');
            this.settle(batch, { stored: [], duplicates: [], refused: [{ entry: prepared[0]!, reason }], latencyMs: 0 });
            return;
          }
        }
        const delay = this.health.backoffMs(attempt);
        this.log?.warn({ err: (err as Error).message, attempt, samples: prepared.length, retryInMs: delay }, 'batch write failed; retrying');
        await this.sleepUnlessAborted(delay);
        continue;
      }
      this.health.recordSuccess(res.latencyMs);
      this.metrics.recordBatch(res.latencyMs);
      this.settle(batch, res);
      return;
    }
  }

  private async storeTakesWrites(): Promise<boolean> {
    try {
      await this.writer.probe();
      return true;
    } catch {
      return false;
    }
  }

  private async sleepUnlessAborted(ms: number): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.wakeups.add(wake);
    await Promise.race([sleep(ms), woken]);
    this.wakeups.delete(wake);
  }

  private settle(batch: Item[], res: BatchWriteResult): void {
    const owners = new Map(batch.map((i) => [i.prepared, i.owner]));
    const positions = new Map(batch.map((i) => [i.prepared, i.index]));
    const origins = new Map(batch.map((i) => [i.prepared, i.origin]));
    const stored: StoredSample[] = [];
    const storedAt: Array<SampleOrigin['kafka'] | undefined> = [];
    for (const p of res.stored) {
      stored.push(storedSample(p));
      storedAt.push(origins.get(p)?.kafka);
      this.metrics.bytesStored += p.bsonSize;
      const o = owners.get(p)!;
      o.result.stored++;
      o.pending--;
    }
    this.metrics.samplesStored += res.stored.length;
    this.metrics.samplesDuplicate += res.duplicates.length;
    for (const p of res.duplicates) {
      const o = owners.get(p)!;
      o.result.duplicates++;
      o.pending--;
    }
    const refusedBy = new Map<Submission, DeadLetterDoc[]>();
    for (const { entry, reason } of res.refused) {
      const o = owners.get(entry)!;
      o.result.refusals.push({ index: positions.get(entry)!, reason, message_id: entry.sample.message_id });
      o.pending--;
      o.result.accepted--;
      o.result.rejected++;
      this.metrics.samplesRejected++;
      this.metrics.recordRefused(origins.get(entry)?.transport ?? o.transport);
      const letters = refusedBy.get(o) ?? [];
      const origin = origins.get(entry);
      letters.push(deadLetterDocument({ index: origin ? origin.index : positions.get(entry)!, reason, payload: JSON.stringify(entry.doc), message_id: entry.sample.message_id, ...originFields(origin) }));
      refusedBy.set(o, letters);
    }
    for (const [o, letters] of refusedBy) {
      const before = o.deadLetterWork;
      o.deadLetterWork = before.then(() => this.deadLetter(letters, o));
      o.deadLetterWork.catch(() => undefined);
    }
    this.hub.publish(stored, storedAt.some((k) => k !== undefined) ? storedAt : undefined);
    for (const o of new Set(owners.values())) this.maybeFinish(o);
  }

  /** Write `letters` (standing for `count` rejects: a summary document stands for many). */
  private async deadLetter(letters: DeadLetterDoc[], owner: Submission, count = letters.length): Promise<void> {
    if (!letters.length) return;
    if (!this.deadLetters) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deadLetters.write(letters);
        owner.result.deadLettered += count;
        this.metrics.recordDeadLetters(letters, count);
        return;
      } catch (err) {
        if (attempt >= DEAD_LETTER_ATTEMPTS || this.aborted) {
          throw new BackpressureError(503, Math.max(1, Math.ceil(this.config.retryMaxMs / 1000)), 'store-down', `dead-letter destination ${this.deadLetters.name} unavailable: ${(err as Error).message}`);
        }
        await this.sleepUnlessAborted(this.health.backoffMs(attempt));
      }
    }
  }

  private maybeFinish(sub: Submission): void {
    if (sub.done || sub.pending > 0) return;
    sub.done = true;
    // deadLetterWork may be replaced by settle() before it runs; wait for the final chain.
    const wait = async () => {
      let current: Promise<void>;
      do {
        current = sub.deadLetterWork;
        await current;
      } while (current !== sub.deadLetterWork);
    };
    wait().then(
      () => sub.resolve(sub.result),
      (err: Error) => sub.reject(err),
    );
  }

  private fail(sub: Submission, err: Error): void {
    if (sub.done) return;
    sub.done = true;
    sub.deadLetterWork.catch(() => undefined);
    sub.reject(err);
  }

  private notifyIdle(): void {
    if (this.inFlightSamples === 0 && this.activeBatches === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
