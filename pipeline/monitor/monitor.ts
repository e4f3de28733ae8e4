import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Ingestion } from '../ingest/pipeline-factory';
import type { ConsumerStats } from '../kafka/consumer';
import type { SampleObserver, StoredSample } from '../sample';
import type { MonitorConfig } from './config';
import type { ConsumerLagReader, LagReading } from './lag';
import type { AcceptedLedger } from './ledger';
import { quantileFromBuckets, RateHistory } from './rates';
import { ReasonClasses } from './reasons';
import type { Reconciliation } from './reconcile';

/**
 * The pipeline watching itself: Prometheus metrics beside the ingestion counters (docs/console.md
 * lists them) and the JSON the console's pipeline panel reads. It listens on the ingestion metrics
 * (accepted per transport, batch writes, dead letters) and on the interception hook (freshness:
 * sample timestamp → stored), and asks the lag reader for the consumer group's lag.
 */

export const BATCH_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const FRESHNESS_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 3600, 21600, 86400, 604800];
const HISTORY_BUCKET_MS = 10_000;
const HISTORY_BUCKETS = 60;

type Buckets = Array<{ le: number; count: number }>;

async function bucketsOf(h: Histogram): Promise<{ buckets: Buckets; count: number; sum: number }> {
  const got = await h.get();
  const buckets: Buckets = [];
  let count = 0;
  let sum = 0;
  for (const v of got.values) {
    if (v.metricName?.endsWith('_bucket')) buckets.push({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value });
    else if (v.metricName?.endsWith('_count')) count = v.value;
    else if (v.metricName?.endsWith('_sum')) sum = v.value;
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count, sum };
}

const summary = (h: { buckets: Buckets; count: number; sum: number }) => ({
  count: h.count,
  avg: h.count ? h.sum / h.count : null,
  p50: quantileFromBuckets(0.5, h.buckets),
  p95: quantileFromBuckets(0.95, h.buckets),
  p99: quantileFromBuckets(0.99, h.buckets),
  buckets: h.buckets.map((b) => ({ le: Number.isFinite(b.le) ? b.le : '+Inf', count: b.count })),
});

export class PipelineMonitor {
  private ingestion: Ingestion | undefined;
  private readonly reasons = new ReasonClasses();
  private readonly history = new Map<string, RateHistory>();
  private readonly deadLetterCounts = new Map<string, number>();
  private newestTimestamp = 0;
  private lastStoredAt = 0;
  private lastReconciliation: Reconciliation | undefined;

  readonly transportSamples: Counter<'transport'>;
  readonly transportRejects: Counter<'transport'>;
  readonly batchSeconds: Histogram;
  readonly freshnessSeconds: Histogram;
  readonly deadLetters: Counter<'reason'>;

  /** The observer that measures freshness on the interception hook. */
  readonly freshness: SampleObserver = { name: 'pipeline-freshness', onStored: (s) => this.onStored(s) };

  constructor(
    registry: Registry,
    private readonly config: MonitorConfig,
    private readonly lag?: ConsumerLagReader,
    private readonly ledger?: AcceptedLedger,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [registry];
    this.transportSamples = new Counter({ name: 'metering_ingest_transport_samples_total', help: 'Valid samples accepted, per transport (http, kafka, …)', labelNames: ['transport'], registers });
    this.transportRejects = new Counter({ name: 'metering_ingest_transport_rejects_total', help: 'Invalid samples received, per transport', labelNames: ['transport'], registers });
    this.batchSeconds = new Histogram({ name: 'metering_ingest_batch_write_seconds', help: 'Time to write one batch to the store (successful writes)', buckets: BATCH_SECONDS_BUCKETS, registers });
    this.freshnessSeconds = new Histogram({ name: 'metering_pipeline_freshness_seconds', help: "End-to-end freshness: a stored sample's recorded_at minus its timestamp", buckets: FRESHNESS_SECONDS_BUCKETS, registers });
    this.deadLetters = new Counter({ name: 'metering_ingest_dead_letters_total', help: 'Samples dead-lettered, by reason (the field at fault, store_refused, other)', labelNames: ['reason'], registers });
    const self = this;
    new Gauge({
      name: 'metering_pipeline_newest_sample_age_seconds',
      help: 'Now minus the newest sample timestamp stored since start (NaN before the first sample)',
      registers,
      collect() {
        this.set(self.newestTimestamp ? (self.now() - self.newestTimestamp) / 1000 : NaN);
      },
    });
    new Gauge({
      name: 'metering_pipeline_seconds_since_last_store',
      help: 'Seconds since the last batch of samples was stored (NaN before the first)',
      registers,
      collect() {
        this.set(self.lastStoredAt ? (self.now() - self.lastStoredAt) / 1000 : NaN);
      },
    });
    if (lag) {
      new Gauge({
        name: 'metering_kafka_consumer_lag',
        help: 'Messages written to a partition and not yet committed by the ingestion consumer group',
        labelNames: ['topic', 'partition'],
        registers,
        async collect() {
          const r = await lag.read();
          this.reset();
          for (const p of r.partitions) this.set({ topic: p.topic, partition: String(p.partition) }, p.lag);
        },
      });
    }
    const consumerTotal = (pick: (s: ConsumerStats) => number) =>
      function (this: Counter) {
        const stats = self.ingestion?.consumer?.stats;
        this.reset();
        if (stats) this.inc(pick(stats));
      };
    new Counter({ name: 'metering_kafka_commit_failures_total', help: 'Kafka commits refused (rebalance, broker away); a later commit of the partition covers each', registers, collect: consumerTotal((s) => s.commitFailures) });
    new Counter({ name: 'metering_kafka_consumer_restarts_total', help: 'Restarts of the Kafka consumer from the committed offsets after a batch could not be written', registers, collect: consumerTotal((s) => s.restarts) });
    new Gauge({
      name: 'metering_ledger_unflushed_samples',
      help: 'Stored samples counted by the reconciliation ledger and not yet written to ingest_ledger',
      registers,
      collect() {
        this.set(self.ledger?.unflushed ?? 0);
      },
    });
    const last = (pick: (r: Reconciliation) => number) =>
      function (this: Gauge) {
        this.set(self.lastReconciliation ? pick(self.lastReconciliation) : NaN);
      };
    new Gauge({ name: 'metering_reconciliation_missing_samples', help: 'Last reconciliation: samples the ledger counted that the store no longer holds', registers, collect: last((r) => r.missing_samples) });
    new Gauge({ name: 'metering_reconciliation_unaccounted_samples', help: 'Last reconciliation: samples in the store the ledger never counted', registers, collect: last((r) => r.unaccounted_samples) });
    new Gauge({ name: 'metering_reconciliation_differing_hours', help: 'Last reconciliation: (resource, hour) pairs that differ', registers, collect: last((r) => r.differing) });
  }

  /** Connect to the running ingestion (the controller calls this once everything exists). */
  attach(ingestion: Ingestion): void {
    this.ingestion = ingestion;
    ingestion.ingestor.metrics.listen({
      accepted: (transport, samples, rejects) => {
        if (samples) this.transportSamples.inc({ transport }, samples);
        if (rejects) this.transportRejects.inc({ transport }, rejects);
        let h = this.history.get(transport);
        if (!h) this.history.set(transport, (h = new RateHistory(HISTORY_BUCKET_MS, HISTORY_BUCKETS)));
        h.add(this.now(), samples);
      },
      batchWritten: (ms) => this.batchSeconds.observe(ms / 1000),
      deadLettered: (byReason) => {
        for (const l of byReason) {
          const reason = this.reasons.of(l.reason);
          this.deadLetters.inc({ reason }, l.count);
          this.deadLetterCounts.set(reason, (this.deadLetterCounts.get(reason) ?? 0) + l.count);
        }
      },
    });
  }

  private onStored(samples: readonly StoredSample[]): void {
    for (const s of samples) {
      const t = +s.timestamp;
      this.freshnessSeconds.observe(Math.max(0, (+s.recorded_at - t) / 1000));
      if (t > this.newestTimestamp) this.newestTimestamp = t;
    }
    if (samples.length) this.lastStoredAt = this.now();
  }

  /** Write the ledger's counts now (before a reconciliation); a failure is returned as a note, not thrown. */
  async flushLedger(): Promise<string | undefined> {
    try {
      await this.ledger?.flush();
      return undefined;
    } catch (err) {
      return `the ledger could not be written (${(err as Error).message}): samples stored in the last moments may show as unaccounted`;
    }
  }

  recordReconciliation(r: Reconciliation): void {
    this.lastReconciliation = r;
  }

  /** What the console's pipeline panel shows (GET /v1/pipeline/status). */
  async status(): Promise<PipelineStatus> {
    const now = this.now();
    const ing = this.ingestion;
    const m = ing?.ingestor.metrics.snapshot() ?? {};
    const transports = [...this.history].map(([transport, h]) => ({
      transport,
      rate_per_s: h.rate(now, this.config.rateWindowSeconds),
      series: h.series(now),
    }));
    const lag: LagReading | null = this.lag ? await this.lag.read() : null;
    const health = ing?.ingestor.health;
    const buffer = ing?.ingestor.buffer;
    const cfg = ing?.ingestor.config;
    return {
      at: new Date(now).toISOString(),
      rate_window_s: this.config.rateWindowSeconds,
      transports,
      totals: {
        accepted: m.metering_ingest_samples_accepted_total ?? 0,
        stored: m.metering_ingest_samples_stored_total ?? 0,
        duplicates: m.metering_ingest_samples_duplicates_total ?? 0,
        rejected: m.metering_ingest_samples_rejected_total ?? 0,
        dead_lettered: m.metering_ingest_samples_dead_lettered_total ?? 0,
        stored_bytes: m.metering_ingest_stored_bytes_total ?? 0,
        batches: m.metering_ingest_batches_total ?? 0,
        batch_failures: m.metering_ingest_batch_failures_total ?? 0,
      },
      batch_latency_s: summary(await bucketsOf(this.batchSeconds)),
      freshness_s: {
        ...summary(await bucketsOf(this.freshnessSeconds)),
        newest_sample: this.newestTimestamp ? new Date(this.newestTimestamp).toISOString() : null,
        last_stored: this.lastStoredAt ? new Date(this.lastStoredAt).toISOString() : null,
      },
      dead_letters_by_reason: Object.fromEntries([...this.deadLetterCounts].sort((a, b) => b[1] - a[1])),
      backpressure: {
        state: !health ? 'unknown' : health.down ? 'store-down' : buffer && cfg && (buffer.inFlightSamples >= cfg.maxInFlightSamples || buffer.inFlightBytes >= cfg.maxInFlightBytes) ? 'buffer-full' : health.slow ? 'store-slow' : 'ok',
        in_flight_samples: buffer?.inFlightSamples ?? 0,
        max_in_flight_samples: cfg?.maxInFlightSamples ?? 0,
        in_flight_bytes: buffer?.inFlightBytes ?? 0,
        max_in_flight_bytes: cfg?.maxInFlightBytes ?? 0,
        write_latency_avg_s: (health?.latencyAvgMs ?? 0) / 1000,
        refused_429: m.metering_ingest_backpressure_429_total ?? 0,
        refused_503: m.metering_ingest_backpressure_503_total ?? 0,
        kafka_pauses: ing?.consumer?.stats.pauses ?? 0,
      },
      consumer_lag: lag,
      ledger: this.ledger ? { unflushed: this.ledger.unflushed, flush_failures: this.ledger.failures } : null,
      last_reconciliation: this.lastReconciliation
        ? { checked_at: this.lastReconciliation.checked_at, ok: this.lastReconciliation.ok, differing: this.lastReconciliation.differing, missing_samples: this.lastReconciliation.missing_samples, unaccounted_samples: this.lastReconciliation.unaccounted_samples }
        : null,
    };
  }
}

export interface PipelineStatus {
  at: string;
  rate_window_s: number;
  transports: Array<{ transport: string; rate_per_s: number; series: Array<{ t: number; rate: number }> }>;
  totals: Record<string, number>;
  batch_latency_s: ReturnType<typeof summary>;
  freshness_s: ReturnType<typeof summary> & { newest_sample: string | null; last_stored: string | null };
  dead_letters_by_reason: Record<string, number>;
  backpressure: { state: string } & Record<string, number | string>;
  consumer_lag: LagReading | null;
  ledger: { unflushed: number; flush_failures: number } | null;
  last_reconciliation: { checked_at: string; ok: boolean; differing: number; missing_samples: number; unaccounted_samples: number } | null;
}
