/** Who wants to hear about each accepted submission, batch write and dead letter (the pipeline monitor). */
export interface IngestListener {
  accepted?(transport: string, samples: number, rejects: number): void;
  batchWritten?(latencyMs: number): void;
  /** Dead letters written, counted per reason. */
  deadLettered?(reasons: ReadonlyArray<{ reason: string; count: number }>): void;
}

/**
 * Counters of the ingestion path. `snapshot()` returns Prometheus-style names and plain numbers; the
 * controller renders them (counters end in `_total`, the rest are gauges).
 */
export class IngestMetrics {
  samplesAccepted = 0;
  samplesStored = 0;
  samplesDuplicate = 0;
  samplesRejected = 0;
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
