/** Who wants to hear about each accepted submission, batch write and dead letter (the pipeline monitor). */
export interface IngestListener {
  accepted?(transport: string, samples: number, rejects: number): void;
  batchWritten?(latencyMs: number): void;
  /** Dead letters written, counted per reason. */
  deadLettered?(reasons: ReadonlyArray<{ reason: string; count: number }>): void;
}

/** The input adapters, as `submit` names them. */
export const TRANSPORTS = ['http', 'kafka', 'amqp', 'udp', 'tcp'] as const;
/** The transports whose input can be accepted into the durable ingest log (`ingest.acceptance: log`). */
export const LOGGED_TRANSPORTS = ['http', 'udp', 'tcp'] as const;

/** What each counter of `IngestMetrics.snapshot()` counts (the HELP line at /metrics). */
export function ingestMetricHelp(name: string): string {
  const perTransport = /^metering_ingest_([a-z]+)_samples_(logged|refused)_total$/.exec(name);
  if (perTransport?.[2] === 'logged') return `Valid ${perTransport[1]} samples appended to the durable ingest log (ingest.acceptance: log) and acknowledged: not yet screened or stored (the screen runs when the log is drained)`;
  if (perTransport?.[2] === 'refused') return `Parsed ${perTransport[1]} samples refused by the ingestor's screen (not storable as sent, implausible volume or timestamp) or refused by the store for good; with ingest.acceptance: log counted when the log is drained, against the transport the sample arrived by`;
  return INGEST_HELP[name] ?? 'ingestion counters';
}

const INGEST_HELP: Record<string, string> = {
  metering_ingest_samples_accepted_total: 'Samples the ingestor took in to write after its screen (ingest log drained by the Kafka consumer included), per submission',
  metering_ingest_samples_stored_total: 'Samples newly written to the store',
  metering_ingest_samples_duplicates_total: 'Samples found already stored (redelivery): not stored again',
  metering_ingest_samples_rejected_total: "Items not stored as invalid: the parser's rejects plus the samples refused by the screen or by the store",
  metering_ingest_samples_refused_total: "Parsed samples refused by the ingestor's screen (not storable, implausible) or by the store for good (part of rejected)",
  metering_ingest_samples_dead_lettered_total: 'Rejected items written to the dead-letter destination',
};

/**
 * Counters of the ingestion path. `snapshot()` returns Prometheus-style names and plain numbers; the
 * controller renders them (counters end in `_total`, the rest are gauges).
 */
export class IngestMetrics {
  samplesAccepted = 0;
  samplesStored = 0;
  samplesDuplicate = 0;
  samplesRejected = 0;
  /** Of the rejected: parsed samples the screen or the store refused (per transport in `refusedBy`). */
  samplesRefused = 0;
  readonly refusedBy: Record<(typeof TRANSPORTS)[number], number> = { http: 0, kafka: 0, amqp: 0, udp: 0, tcp: 0 };
  /** Valid samples appended to the durable ingest log and acknowledged (acceptance log), per transport. */
  readonly loggedBy: Record<(typeof LOGGED_TRANSPORTS)[number], number> = { http: 0, udp: 0, tcp: 0 };
  samplesDeadLettered = 0;
  bytesStored = 0;
  batches = 0;
  batchFailures = 0;
  backpressure429 = 0;
  backpressure503 = 0;
  writeLatencySumMs = 0;
  writeLatencyMaxMs = 0;

  /** Values read from their owners when the snapshot is taken (observer failures are the hub's count). */
  constructor(private readonly gauges: () => { inFlightSamples: number; inFlightBytes: number; storeUp: boolean; writeLatencyAvgMs: number; observerFailures: number }) {}

  private readonly listeners: IngestListener[] = [];

  /** Hear about accepted submissions, batch writes and dead letters; a throwing listener is ignored. */
  listen(listener: IngestListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private emit(call: (l: IngestListener) => void): void {
    for (const l of this.listeners) {
      try {
        call(l);
      } catch {
        // monitoring must never affect ingestion
      }
    }
  }

  recordAccepted(transport: string, samples: number, rejects: number): void {
    this.samplesAccepted += samples;
    this.samplesRejected += rejects;
    this.emit((l) => l.accepted?.(transport, samples, rejects));
  }

  /** One parsed sample refused by the screen or the store, against the transport it arrived by. */
  recordRefused(transport: string): void {
    this.samplesRefused++;
    if (transport in this.refusedBy) this.refusedBy[transport as keyof typeof this.refusedBy]++;
  }

  /** `samples` valid samples of `transport` acknowledged once in the durable ingest log. */
  recordLogged(transport: (typeof LOGGED_TRANSPORTS)[number], samples: number): void {
    this.loggedBy[transport] += samples;
  }

  /** `count` rejects written as `letters` (a submission's summary document stands for many: its reasons carry their counts). */
  recordDeadLetters(letters: ReadonlyArray<{ reason: string; summary?: { reasons: ReadonlyArray<{ reason: string; count: number }> } }>, count = letters.length): void {
    this.samplesDeadLettered += count;
    const byReason = letters.flatMap((l) => (l.summary ? l.summary.reasons : [{ reason: l.reason, count: 1 }]));
    this.emit((l) => l.deadLettered?.(byReason));
  }

  recordBatch(latencyMs: number): void {
    this.emit((l) => l.batchWritten?.(latencyMs));
    this.batches++;
    this.writeLatencySumMs += latencyMs;
    if (latencyMs > this.writeLatencyMaxMs) this.writeLatencyMaxMs = latencyMs;
  }

  snapshot(): Record<string, number> {
    const g = this.gauges();
    return {
      metering_ingest_samples_accepted_total: this.samplesAccepted,
      metering_ingest_samples_stored_total: this.samplesStored,
      metering_ingest_samples_duplicates_total: this.samplesDuplicate,
      metering_ingest_samples_rejected_total: this.samplesRejected,
      metering_ingest_samples_refused_total: this.samplesRefused,
      ...Object.fromEntries(TRANSPORTS.map((t) => [`metering_ingest_${t}_samples_refused_total`, this.refusedBy[t]])),
      ...Object.fromEntries(LOGGED_TRANSPORTS.map((t) => [`metering_ingest_${t}_samples_logged_total`, this.loggedBy[t]])),
      metering_ingest_samples_dead_lettered_total: this.samplesDeadLettered,
      metering_ingest_stored_bytes_total: this.bytesStored,
      metering_ingest_batches_total: this.batches,
      metering_ingest_batch_failures_total: this.batchFailures,
      metering_ingest_backpressure_429_total: this.backpressure429,
      metering_ingest_backpressure_503_total: this.backpressure503,
      metering_ingest_observer_failures_total: g.observerFailures,
      metering_ingest_write_latency_seconds_sum: this.writeLatencySumMs / 1000,
      metering_ingest_write_latency_seconds_count: this.batches,
      metering_ingest_write_latency_seconds_max: this.writeLatencyMaxMs / 1000,
      metering_ingest_write_latency_seconds_avg: g.writeLatencyAvgMs / 1000,
      metering_ingest_inflight_samples: g.inFlightSamples,
      metering_ingest_inflight_bytes: g.inFlightBytes,
      metering_ingest_store_up: g.storeUp ? 1 : 0,
    };
  }
}
