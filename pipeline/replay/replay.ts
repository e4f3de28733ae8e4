/**
 * A replay: trace rows (source.ts) → batches of samples → a sink (HTTP or Kafka), paced by the
 * trace's own clock compressed `speedup` times (pacer.ts).
 */
import type { Sample } from '../sample';
import { Pacer } from './pacer';
import { sleep, type ReplaySink, type ReplayTotals } from './sink';
import { traceRowSamples, type TraceSlice, type TraceVm } from './source';

export interface ReplayOptions {
  files: readonly string[];
  slice?: TraceSlice;
  sink: ReplaySink;
  /** Samples per send (HTTP body / Kafka produce call); default 500. */
  batch?: number;
  /** Trace seconds per wall second; 0 = as fast as possible (default). */
  speedup?: number;
  /** Called after each send with rows read and samples sent so far. */
  onProgress?: (p: { rows: number; sent: number; traceS: number }) => void;
}

export interface ReplaySummary extends ReplayTotals {
  seconds: number;
  samples_per_second: number;
  rows: number;
  /** Samples the sampler produced for the slice (sent equals this when the replay finished). */
  produced: number;
  vms: Array<{ name: string; instance_id: string; rows: number; off_rows: number; repeated_rows: number; samples: number }>;
}

export async function replayTraces(opts: ReplayOptions): Promise<ReplaySummary> {
  const batchSize = opts.batch ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`--batch: expected a positive integer, got ${opts.batch}`);
  const pacer = new Pacer(opts.speedup ?? 0);
  const vms: TraceVm[] = [];
  const started = performance.now();
  let rows = 0;
  let produced = 0;
  let lastTraceS = 0;
  let pending: Sample[] = [];
  const sendBatch = async (out: Sample[]): Promise<void> => {
    await opts.sink.send(out);
    opts.onProgress?.({ rows, sent: opts.sink.totals.sent, traceS: lastTraceS });
  };
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const out = pending;
    pending = [];
    await sendBatch(out);
  };
  let ok = false;
  try {
    for await (const row of traceRowSamples(opts.files, opts.slice, vms)) {
      let wait = pacer.waitMs(row.timestampS);
      if (wait > 0) {
        await flush();
        wait = pacer.waitMs(row.timestampS);
        if (wait > 0) await sleep(wait);
      }
      rows++;
      lastTraceS = row.timestampS;
      produced += row.samples.length;
      for (const s of row.samples) pending.push(s);
      while (pending.length >= batchSize) await sendBatch(pending.splice(0, batchSize));
    }
    await flush();
    ok = true;
  } finally {
    // On failure still release connections, but report the original error.
    await opts.sink.close().catch((e) => {
      if (ok) throw e;
    });
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    ...opts.sink.totals,
    seconds: Math.round(seconds * 1000) / 1000,
    samples_per_second: seconds > 0 ? Math.round(opts.sink.totals.sent / seconds) : 0,
    rows,
    produced,
    vms: vms.map((v) => ({ name: v.name, instance_id: v.instanceId, rows: v.emittedRows, off_rows: v.stats.off_rows, repeated_rows: v.stats.repeated_rows, samples: v.emittedSamples })),
  };
}
