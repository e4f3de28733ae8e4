import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../../lib/log';
import { payloadPositions, type NormalizeOptions } from '../ceilometer/normalize';
import { parseRecord, recordTransport } from '../durable/record';
import type { IngestConfig, KafkaConfig } from '../config';
import type { Sample } from '../sample';
import { BackpressureError } from '../ingest/backpressure';
import type { RejectInput } from '../ingest/dead-letter';
import { ensureTopics } from './client';
import type { Ingestor, SampleOrigin, SubmitResult } from '../ingest/ingestor';

/**
 * The Kafka side of ingestion: a consumer group over the configured topics, each message either one
 * signed counter_* meter message (Ceilometer's kafka:// publisher) or an oslo notifier envelope.
 *
 * At-least-once delivery + the store's unique message-id index = exactly-once effect:
 *  - `eachBatch` with `eachBatchAutoResolve: false` and `autoCommit: false`: a partition's batch is
 *    parsed, its samples submitted to the Ingestor (which resolves only after the durable write) and its
 *    rejects dead-lettered; only then is the offset resolved and committed;
 *  - a consumer that dies anywhere before the commit is redelivered the batch; samples it already
 *    stored come back as duplicates and are not stored again;
 *  - back-pressure from the Ingestor pauses the topic for `retryAfterSeconds` (heartbeating meanwhile)
 *    and then retries the same samples.
 *
 * Pipelining: `eachBatch` parses a batch, hands its samples to the Ingestor and returns at once (the
 * offsets resolved locally, nothing committed), so KafkaJS fetches and the consumer parses the next
 * batch while the previous one is being written. Per partition the batches form a chain: a batch's
 * offset is committed only after its own samples AND those of every earlier batch of the partition are
 * durably stored, so no commit passes a sample not yet written. The batches parsed but not yet committed
 * are bounded by `kafka.pipelineMaxBytes` (message bytes): at the bound `eachBatch` waits for the oldest
 * to finish.
 *
 * Failures:
 *  - a commit refused (a rebalance in progress, a broker away) is counted and logged, nothing more: the
 *    write is durable, the next commit of the partition covers it, and a rejoin reads the commits again;
 *  - a batch whose write fails makes the later batches of its partition fail too (never committed), and
 *    the consumer restarts from the commits: the batches in hand settle, the partitions are released as
 *    on a graceful stop, a new KafkaJS consumer joins the group (after a back-off) and everything
 *    uncommitted is redelivered; what was already stored comes back as duplicates. (KafkaJS's own retry
 *    would fetch on from the offsets resolved locally, past the failed batch, so it is not relied on.)
 *    The same happens when KafkaJS gives up (a crash it does not restart from).
 */

export interface CeilometerConsumerOptions {
  kafka: Kafka;
  config: KafkaConfig;
  ingest: Pick<IngestConfig, 'batchMaxSamples' | 'maxInFlightSamples' | 'maxInFlightBytes' | 'telemetrySecret' | 'signaturePolicy'>;
  ingestor: Ingestor;
  log?: Logger;
  /** Extra parser options (limits, default source). */
  parseOptions?: NormalizeOptions;
}

export interface ConsumerStats {
  messages: number;
  batches: number;
  commits: number;
  /** Commits refused (rebalance, broker away); a later commit of the partition covers them. */
  commitFailures: number;
  /** Restarts from the commits after a batch could not be written (or KafkaJS crashed for good). */
  restarts: number;
  pauses: number;
  /** Samples the ingestor took in (stored or found already stored), of committed batches. */
  samples: number;
  /** Items the parser rejected (invalid, forged, outside a token's project scope), of committed batches. */
  rejects: number;
  /** Parsed samples refused by the ingestor's screen (not storable, implausible) or by the store, of committed batches. */
  refused: number;
}

class ConsumerStopped extends Error {}

/** A partition of a consumed topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * Told when this consumer starts and stops owning partitions, for state kept per partition (the
 * profiler with `profiler.cluster.state: store`, see docs/profiler.md "Many controllers").
 *  - `assigned`: before the first batch of a partition newly owned is handed to the ingestor (awaited,
 *    heartbeating meanwhile): the place to load the partition's state;
 *  - `released`: once the partition is lost to a rebalance or the consumer stops gracefully, after every
 *    batch in hand has been written (so the state covers it) and, on stop, before the group is left:
 *    the place to flush the partition's state for its next owner. Not called on kill() (a crash).
 */
export interface PartitionListener {
  assigned?(tp: TopicPartition): Promise<void>;
  released?(tps: TopicPartition[]): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function rethrowUnlessStopped(err: unknown): void {
  if (!(err instanceof ConsumerStopped)) throw err;
}

/** Rejects with the first rejection among `results` (resolves when there is none). */
function firstRejection(results: PromiseSettledResult<unknown>[]): void {
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

export class CeilometerConsumer {
  readonly stats: ConsumerStats = { messages: 0, batches: 0, commits: 0, commitFailures: 0, restarts: 0, pauses: 0, samples: 0, rejects: 0, refused: 0 };
  private consumer: Consumer | undefined;
  private killed = false;
  private stopping = false;
  private pausedTopics = new Map<string, number>();
  private readonly parseOptions: NormalizeOptions;
  /**
   * Per `topic:partition`: the last batch handed on; its promise resolves once its samples and those of
   * every earlier batch of the partition are durably stored, and rejects if any of them failed.
   */
  private chains = new Map<string, Promise<void>>();
  /** Every batch parsed and not yet committed or failed, with its message bytes. */
  private readonly inFlight = new Set<Promise<void>>();
  private bufferedBytes = 0;
  /** Set by stop(): no restart after it. */
  private closed = false;
  /** A restart from the commits under way (see `recover`). */
  private recovery: Promise<void> | undefined;
  /** Incremented at every group (re)join. */
  private generation = 0;
  private readonly listeners: PartitionListener[] = [];
  /** Partitions announced to the listeners as owned (`topic:partition` → partition). */
  private owned = new Map<string, TopicPartition>();
  /** The partitions the group gave this consumer at its latest join (empty when not in the group). */
  private assignedNow: TopicPartition[] = [];
  /** Release of partitions lost at the last rebalance (listeners' `released` running). */
  private releasing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CeilometerConsumerOptions) {
    this.parseOptions = { secret: opts.ingest.telemetrySecret, signaturePolicy: opts.ingest.signaturePolicy, ...opts.parseOptions };
  }

  /** The partitions this consumer owns, as the group assigned them at its latest join (empty when stopped). */
  assignment(): TopicPartition[] {
    return this.consumer ? this.assignedNow.map((tp) => ({ ...tp })) : [];
  }

  /** Register a listener for partitions gained and lost (before start()). */
  addPartitionListener(listener: PartitionListener): void {
    this.listeners.push(listener);
  }

  /** Whether the group gave `topic`/`partition` to this consumer at its latest join (true before the first join event). */
  private owns(topic: string, partition: number): boolean {
    if (this.generation === 0) return true;
    for (const tp of this.assignedNow) if (tp.partition === partition && tp.topic === topic) return true;
    return false;
  }

  /**
   * A (re)join. The chains of partitions kept stay (a batch of the old generation still in hand keeps
   * the later ones from committing past it); those of partitions lost are dropped, and the lost
   * partitions are released once their batches in hand are written.
   */
  private onAssignment(assignment: Record<string, number[]> | undefined): void {
    this.generation++;
    this.assignedNow = Object.entries(assignment ?? {}).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
    const now = new Set(this.assignedNow.map((tp) => `${tp.topic}:${tp.partition}`));
    const pending = new Map<string, Promise<void>>();
    for (const [key, chain] of this.chains) {
      if (now.has(key)) {
        // a batch abandoned to the rejoin is redelivered from the commits: only a real failure holds the chain
        const kept = chain.catch(rethrowUnlessStopped);
        kept.catch(() => undefined); // observed by the partition's next batch, if any
        this.chains.set(key, kept);
        continue;
      }
      pending.set(key, chain);
      this.chains.delete(key);
    }
    if (this.listeners.length === 0) return;
    const lost = [...this.owned].filter(([key]) => !now.has(key)).map(([, tp]) => tp);
    if (lost.length === 0) return;
    for (const tp of lost) this.owned.delete(`${tp.topic}:${tp.partition}`);
    const writes = lost.flatMap((tp) => pending.get(`${tp.topic}:${tp.partition}`) ?? []);
    this.releasing = this.releasing.then(() => this.release(lost, writes));
  }

  /** Tell the listeners `tps` are lost, once `writes` (their batches in hand) have settled. */
  private async release(tps: TopicPartition[], writes: Array<Promise<unknown>>): Promise<void> {
    await Promise.allSettled(writes);
    for (const l of this.listeners) {
      try {
        await l.released?.(tps);
      } catch (err) {
        this.opts.log?.warn({ partitions: tps, err: (err as Error).message }, 'partition release listener failed');
      }
    }
  }

  /**
   * Join the group, subscribe and start consuming (returns once running). A second call while running is
   * a no-op: a second KafkaJS consumer here would be an orphaned member of the group, which could be given
   * the partitions and never hand their batches to ingestion.
   */
  async start(): Promise<void> {
    if (this.consumer && !this.closed) return;
    this.closed = false;
    await this.run();
  }

  private async run(): Promise<void> {
    const { kafka, config } = this.opts;
    const consumer = kafka.consumer({ groupId: config.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: config.fetchMaxWaitMs, sessionTimeout: config.sessionTimeoutMs, heartbeatInterval: config.heartbeatIntervalMs, retry: { retries: 10 } });
    this.consumer = consumer;
    this.killed = false;
    this.stopping = false;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.consumer === consumer) this.onAssignment(event.payload.memberAssignment);
    });
    // KafkaJS restarts itself after most crashes; when it does not, neither would the ingestion
    consumer.on(consumer.events.CRASH, (event) => {
      if (this.consumer === consumer && !event.payload.restart) this.recover(event.payload.error);
    });
    await consumer.connect();
    await ensureTopics(kafka, config.topics);
    await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Graceful shutdown: finish (write and commit) the batch in hand, leave the group, disconnect. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.recovery;
    await this.halt();
  }

  /** Take no new batches, let the ones in hand be written and committed, release the partitions, leave. */
  private async halt(): Promise<void> {
    if (!this.consumer) return;
    const c = this.consumer;
    this.stopping = true;
    try {
      c.pause(this.opts.config.topics.map((topic) => ({ topic })));
    } catch {
      // KafkaJS already stopped (a crash): nothing more is fetched anyway
    }
    await Promise.allSettled([...this.inFlight]);
    // the partitions' state is flushed for their next owners before the group is left
    await this.releasing;
    const owned = [...this.owned.values()];
    this.owned = new Map();
    if (owned.length > 0) await this.release(owned, []);
    this.chains = new Map();
    this.consumer = undefined;
    await c.disconnect();
  }

  /**
   * Start again from the commits (a batch could not be written, or KafkaJS crashed for good): the
   * batches in hand settle, the partitions are released, and a new consumer joins after a back-off
   * (doubling from 0.5 s to 30 s while joining fails). One at a time; none after stop() or kill().
   */
  private recover(err: unknown): void {
    if (this.recovery || this.closed || this.killed || this.stopping) return;
    this.stats.restarts++;
    this.opts.log?.warn({ err: (err as Error)?.message ?? String(err) }, 'Kafka consumer restarting from the committed offsets (everything uncommitted is redelivered)');
    this.recovery = (async () => {
      try {
        await this.halt();
      } catch (e) {
        this.opts.log?.warn({ err: (e as Error).message }, 'Kafka consumer: leaving the group before the restart failed');
      }
      for (let delay = 500; !this.closed && !this.killed; delay = Math.min(delay * 2, 30_000)) {
        await sleep(delay);
        if (this.closed || this.killed) break;
        try {
          await this.run();
          break;
        } catch (e) {
          this.opts.log?.warn({ err: (e as Error).message, retryInMs: delay * 2 }, 'Kafka consumer: rejoining after a failure failed');
          const c = this.consumer;
          this.consumer = undefined;
          await c?.disconnect().catch(() => undefined);
        }
      }
    })().finally(() => (this.recovery = undefined));
  }

  /**
   * Leave without committing anything further (what a crash amounts to, for tests and emergency
   * shutdown): a batch in hand is abandoned uncommitted and will be redelivered to the group.
   * Abort the ingestor first so an in-flight submit does not keep the batch alive.
   */
  async kill(): Promise<void> {
    this.killed = true;
    this.closed = true;
    const c = this.consumer;
    this.consumer = undefined;
    if (c) await c.disconnect();
  }

  private chunkSize(): number {
    const { batchMaxSamples, maxInFlightSamples } = this.opts.ingest;
    return Math.max(1, Math.min(batchMaxSamples, Math.floor(maxInFlightSamples / 2)));
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || this.stopping || this.killed || this.recovery) return;
    const { topic, partition } = batch;
    // A batch fetched before a rebalance can still be handed over after it: one of a partition this
    // consumer no longer owns is dropped (its new owner reads it from the commits), or both owners
    // would write it and the partition's state would be announced and observed here as well.
    if (!this.owns(topic, partition)) return;
    if (this.listeners.length > 0 && !this.owned.has(`${topic}:${partition}`)) {
      await this.announce({ topic, partition }, heartbeat);
      if (this.stopping || this.killed || !isRunning() || isStale() || !this.owns(topic, partition)) return;
    }
    const rejects: RejectInput[] = [];
    // Chunks for the ingestor, capped by count and by (approximate) bytes so that no chunk can exceed
    // the in-flight budget, which would be refused as too large every time the batch is redelivered.
    const size = this.chunkSize();
    const maxBytes = Math.max(1, Math.floor(this.opts.ingest.maxInFlightBytes / 2));
    const chunks: Array<{ samples: Sample[]; rejects: RejectInput[]; bytes: number; origins: SampleOrigin[] }> = [{ samples: [], rejects, bytes: 0, origins: [] }];
    let batchBytes = 0;
    for (const m of batch.messages) {
      const value = m.value ?? Buffer.alloc(0);
      batchBytes += value.length;
      const parsed = parseRecord(value, m.headers, this.parseOptions);
      const transport = recordTransport(m.headers); // an ingest-log record: the transport its samples arrived by
      // ... and accepted when the log took it (our controller appended it and then answered the sender)
      const acceptedAt = transport ? appendTime(m.timestamp) : undefined;
      const each = parsed.samples.length ? value.length / parsed.samples.length : 0;
      const positions = payloadPositions(parsed);
      for (let i = 0; i < parsed.samples.length; i++) {
        const s = parsed.samples[i]!;
        let last = chunks[chunks.length - 1]!;
        if (last.samples.length > 0 && (last.samples.length >= size || last.bytes + each > maxBytes)) {
          last = { samples: [], rejects: [], bytes: 0, origins: [] };
          chunks.push(last);
        }
        last.samples.push(s);
        last.origins.push({ kafka: { topic, partition, offset: m.offset }, index: positions[i]!, ...(transport ? { transport } : {}), ...(acceptedAt ? { acceptedAt } : {}) });
        last.bytes += each;
      }
      for (const r of parsed.rejects) rejects.push({ ...r, kafka: { topic, partition, offset: m.offset } });
    }
    this.stats.messages += batch.messages.length;

    const live = () => !this.killed && isRunning() && !isStale();
    const last = batch.lastOffset();
    const key = `${topic}:${partition}`;
    const generation = this.generation;
    const previous = this.chains.get(key) ?? Promise.resolve();
    // every chunk settles before the batch counts as failed: none is still being written when it is released
    const taken = { samples: 0, refused: 0 };
    const count = (r: SubmitResult) => {
      taken.samples += r.accepted;
      taken.refused += r.refusals.length;
    };
    const written = Promise.allSettled(chunks.map((c) => this.submitWithBackoff(topic, c.samples, c.rejects, live, heartbeat, c.origins).then(count))).then(firstRejection);
    const durable = (async () => {
      await written;
      await previous; // in order: every earlier batch of this partition is durably stored too (or this fails with it)
    })();
    this.chains.set(key, durable);
    const committed = (async () => {
      await durable;
      if (this.killed) throw new ConsumerStopped(); // kill(): never commit after the decision to leave
      const consumer = this.consumer;
      if (!consumer) throw new ConsumerStopped();
      // lost at a rebalance meanwhile: its new owner commits it (released state covers what was written here)
      if (generation !== this.generation && !this.owns(topic, partition)) throw new ConsumerStopped();
      const offset = (BigInt(last) + 1n).toString();
      try {
        await consumer.commitOffsets([{ topic, partition, offset }]);
        this.stats.commits++;
      } catch (err) {
        // refused by a rebalance or a broker away: the write is durable; the partition's next commit (or its next owner) covers it
        this.stats.commitFailures++;
        this.opts.log?.warn({ topic, partition, offset: last, err: (err as Error).message }, 'Kafka commit refused; a later commit covers it');
        this.commitLater(consumer, topic, partition, offset, durable);
      }
      this.stats.batches++;
      this.stats.samples += taken.samples;
      this.stats.refused += taken.refused;
      this.stats.rejects += rejects.length;
    })();
    this.inFlight.add(committed);
    this.bufferedBytes += batchBytes;
    committed.then(
      () => undefined,
      (err: unknown) => {
        // abandoned uncommitted (stopped, killed, or its partition lost since): redelivered to its owner
        if (err instanceof ConsumerStopped || this.killed || this.stopping || !this.owns(topic, partition)) return;
        this.opts.log?.warn({ topic, partition, err: (err as Error).message }, 'Kafka batch not written: the consumer restarts from the last committed offsets');
        this.recover(err);
      },
    ).finally(() => {
      this.inFlight.delete(committed);
      this.bufferedBytes -= batchBytes;
    });
    // Consumed locally: KafkaJS fetches on from here while this batch is written (nothing is committed yet).
    resolveOffset(last);
    // Bounded pipeline: past pipelineMaxBytes wait until enough of the batches in hand are done.
    const limit = this.opts.config.pipelineMaxBytes ?? 16 * 1024 * 1024;
    while (this.bufferedBytes > limit && this.inFlight.size > 0 && !this.killed) {
      await Promise.race([...this.inFlight].map((p) => p.then(() => undefined, () => undefined)));
      await heartbeat().catch(() => undefined);
    }
  }

  /**
   * A refused commit of the partition's last batch so far, tried again (after 1 s, doubling to 30 s) for as
   * long as no later batch of the partition came (whose commit covers it), the partition is still owned
   * and the consumer is the same; an idle partition would otherwise stay uncommitted until its next
   * message. Checked just before sending, so a later batch's commit is always sent after it.
   */
  private commitLater(consumer: Consumer, topic: string, partition: number, offset: string, chain: Promise<void>, delayMs = 1000): void {
    const key = `${topic}:${partition}`;
    const timer = setTimeout(() => {
      if (this.consumer !== consumer || this.stopping || this.killed || this.chains.get(key) !== chain || !this.owns(topic, partition)) return;
      consumer.commitOffsets([{ topic, partition, offset }]).then(
        () => {
          this.stats.commits++;
        },
        () => {
          this.stats.commitFailures++;
          this.commitLater(consumer, topic, partition, offset, chain, Math.min(delayMs * 2, 30_000));
        },
      );
    }, delayMs);
    timer.unref();
  }

  /** A partition newly owned: the listeners load its state before its first batch (heartbeating meanwhile). */
  private async announce(tp: TopicPartition, heartbeat: () => Promise<void>): Promise<void> {
    // partitions lost at the last rebalance are released (their state written) before any is loaded
    await this.releasing;
    const key = `${tp.topic}:${tp.partition}`;
    this.owned.set(key, tp);
    const beat = setInterval(() => heartbeat().catch(() => undefined), 1000);
    try {
      for (const l of this.listeners) await l.assigned?.(tp);
    } catch (err) {
      this.owned.delete(key); // not loaded: announced again with the partition's next batch
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  private async submitWithBackoff(topic: string, samples: Sample[], rejects: RejectInput[], live: () => boolean, heartbeat: () => Promise<void>, origins?: SampleOrigin[]): Promise<SubmitResult> {
    for (;;) {
      if (!live()) throw new ConsumerStopped();
      try {
        return await this.opts.ingestor.submit(samples, rejects, origins, 'kafka');
      } catch (err) {
        if (!(err instanceof BackpressureError) || err.reason === 'closed') {
          if (!live()) throw new ConsumerStopped();
          throw err;
        }
        this.stats.pauses++;
        this.pause(topic);
        this.opts.log?.warn({ topic, status: err.status, retryAfterSeconds: err.retryAfterSeconds, reason: err.reason }, 'ingestion back-pressure: topic paused');
        try {
          const until = Date.now() + err.retryAfterSeconds * 1000;
          while (Date.now() < until) {
            if (!live()) throw new ConsumerStopped();
            await sleep(Math.min(500, until - Date.now()));
            await heartbeat().catch(() => undefined);
          }
        } finally {
          this.resume(topic);
        }
      }
    }
  }

  private pause(topic: string): void {
    const n = this.pausedTopics.get(topic) ?? 0;
    this.pausedTopics.set(topic, n + 1);
    if (n === 0) this.consumer?.pause([{ topic }]);
  }

  private resume(topic: string): void {
    const n = (this.pausedTopics.get(topic) ?? 1) - 1;
    if (n <= 0) {
      this.pausedTopics.delete(topic);
      // halt() paused every topic for good: a back-off ending meanwhile must not undo that
      if (!this.stopping) this.consumer?.resume([{ topic }]);
    } else this.pausedTopics.set(topic, n);
  }
}

/** A record's timestamp (ms as text) as a Date; undefined when it is missing or ahead of this clock (then the drain's time counts). */
function appendTime(timestamp: string | undefined): Date | undefined {
  const ms = Number(timestamp);
  return Number.isFinite(ms) && ms > 0 && ms <= Date.now() ? new Date(ms) : undefined;
}
