import type { IngestConfig } from '../config';

/**
 * Back-pressure policy (pure): when the ingestion path takes new work and when it pushes back.
 *  - 429 Too Many Requests: the in-flight buffer (accepted, not yet written) is full, or the store is
 *    slow (moving-average write latency above `slowWriteMs`) while a backlog exists.
 *  - 503 Service Unavailable: the store is down (`storeDownAfterFailures` consecutive failed batch
 *    writes whose probe failed too); nothing new is accepted until a write succeeds again. A batch the
 *    store refuses while it takes the probe never counts here (see Ingestor.writeUntilDone).
 * Both carry `retryAfterSeconds` (the HTTP Retry-After; the Kafka consumer pauses that long).
 */

export type BackpressureReason = 'buffer-full' | 'store-slow' | 'store-down' | 'closed' | 'log-down';

export class BackpressureError extends Error {
  constructor(
    readonly status: 429 | 503,
    readonly retryAfterSeconds: number,
    readonly reason: BackpressureReason,
    message: string,
  ) {
    super(message);
    this.name = 'BackpressureError';
  }
}

/** A single submission larger than the whole in-flight buffer: it can never be accepted as is (HTTP 413). */
export class SubmissionTooLargeError extends Error {
  readonly status = 413;
  constructor(message: string) {
    super(message);
    this.name = 'SubmissionTooLargeError';
  }
}

type HealthConfig = Pick<IngestConfig, 'storeDownAfterFailures' | 'slowWriteMs' | 'retryInitialMs' | 'retryMaxMs'>;

/** Tracks the store's recent behaviour from the outcome of batch writes. */
export class StoreHealth {
  consecutiveFailures = 0;
  /** Exponential moving average of successful batch write latency (ms). */
  latencyAvgMs = 0;
  private samples = 0;

  constructor(private readonly cfg: HealthConfig) {}

  recordSuccess(latencyMs: number): void {
    this.consecutiveFailures = 0;
    this.latencyAvgMs = this.samples === 0 ? latencyMs : 0.8 * this.latencyAvgMs + 0.2 * latencyMs;
    this.samples++;
  }

  /** The store took a write (a probe): it is available, whatever a batch's own failure said. */
  recordAvailable(): void {
    this.consecutiveFailures = 0;
  }

  /** A write failed and the store did not take a probe either: the store is unavailable. */
  recordFailure(): void {
    this.consecutiveFailures++;
  }

  get down(): boolean {
    return this.consecutiveFailures >= this.cfg.storeDownAfterFailures;
  }

  get slow(): boolean {
    return this.latencyAvgMs > this.cfg.slowWriteMs;
  }

  /** Delay before retry number `attempt` (1-based) of a failed batch: doubling, capped, with ±20% jitter. */
  backoffMs(attempt: number, random: () => number = Math.random): number {
    const base = Math.min(this.cfg.retryMaxMs, this.cfg.retryInitialMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + 0.4 * random()));
  }
}

export interface BufferState {
  inFlightSamples: number;
  inFlightBytes: number;
  /** Samples accepted but not yet handed to a write (the backlog). */
  queuedSamples: number;
}

type AdmissionConfig = Pick<IngestConfig, 'maxInFlightSamples' | 'maxInFlightBytes' | 'batchMaxSamples' | 'retryMaxMs'>;

/**
 * Decide whether a submission of `samples`/`bytes` may enter the buffer. Returns the error to throw, or
 * undefined to accept. `drainPerSecond` is the recent write rate (samples/s), used for Retry-After.
 */
export function admission(
  cfg: AdmissionConfig,
  health: StoreHealth,
  buf: BufferState,
  samples: number,
  bytes: number,
  drainPerSecond: number,
): BackpressureError | SubmissionTooLargeError | undefined {
  if (samples > cfg.maxInFlightSamples || bytes > cfg.maxInFlightBytes) {
    return new SubmissionTooLargeError(
      `submission of ${samples} samples / ${bytes} bytes exceeds the in-flight limit (ingest.maxInFlightSamples ${cfg.maxInFlightSamples}, ingest.maxInFlightBytes ${cfg.maxInFlightBytes}); split it`,
    );
  }
  if (health.down) {
    const retry = Math.max(1, Math.ceil(health.backoffMs(health.consecutiveFailures, () => 0.5) / 1000));
    return new BackpressureError(503, retry, 'store-down', `metering store unavailable (${health.consecutiveFailures} consecutive failed writes); retry in ${retry} s`);
  }
  const drainSeconds = (n: number) => Math.max(1, Math.ceil(n / Math.max(1, drainPerSecond)));
  if (buf.inFlightSamples + samples > cfg.maxInFlightSamples || buf.inFlightBytes + bytes > cfg.maxInFlightBytes) {
    const retry = Math.min(Math.ceil(cfg.retryMaxMs / 1000) || 1, drainSeconds(buf.inFlightSamples));
    return new BackpressureError(429, retry, 'buffer-full', `ingestion buffer full (${buf.inFlightSamples} samples / ${buf.inFlightBytes} bytes in flight); retry in ${retry} s`);
  }
  if (health.slow && buf.queuedSamples >= cfg.batchMaxSamples) {
    const retry = Math.min(Math.ceil(cfg.retryMaxMs / 1000) || 1, drainSeconds(buf.queuedSamples));
    return new BackpressureError(429, retry, 'store-slow', `metering store slow (average write ${Math.round(health.latencyAvgMs)} ms) with ${buf.queuedSamples} samples queued; retry in ${retry} s`);
  }
  return undefined;
}
