import type { Sample, StoredSample } from '../pipeline/sample';
import { readBitbrains, traceVmName } from './bitbrains';
import type { Profiler } from './profiler';
import { TraceSampler, type TraceSampleOptions, type TraceSampleStats } from './trace-samples';

/**
 * Offline profiling of Bitbrains traces through the live code path: trace rows → Ceilometer samples
 * (trace-samples.ts) → `profiler.onStored`, exactly as the ingestion hook would deliver them.
 */

/**
 * Wraps samples as the store would hand them to observers. Offline they were never stored, so
 * `bson_size` is 0 and `recorded_at` is the replay time (the profiler's idle clock).
 */
export function asStored(samples: readonly Sample[], recordedAt: Date): StoredSample[] {
  return samples.map((s) => ({ ...s, bson_size: 0, recorded_at: recordedAt }));
}

export interface TraceProfileResult {
  /** VM name (trace file name without .csv) → instance id the profiler knows it by. */
  vms: { name: string; instanceId: string; file: string; stats: TraceSampleStats }[];
}

/** Replays every trace file into the profiler (files one after another, rows in order, batches of `batch` rows). */
export async function profileTraceFiles(
  files: readonly string[],
  profiler: Profiler,
  options: TraceSampleOptions & { batchRows?: number } = {},
): Promise<TraceProfileResult> {
  const batchRows = options.batchRows ?? 256;
  const result: TraceProfileResult = { vms: [] };
  for (const file of files) {
    const sampler = new TraceSampler(traceVmName(file), options);
    let batch: Sample[] = [];
    let rows = 0;
    for await (const row of readBitbrains(file)) {
      const s = sampler.samples(row);
      for (let i = 0; i < s.length; i++) batch.push(s[i]!);
      if (++rows === batchRows) {
        profiler.onStored(asStored(batch, new Date()));
        batch = [];
        rows = 0;
      }
    }
    if (batch.length > 0) profiler.onStored(asStored(batch, new Date()));
    result.vms.push({ name: sampler.vm.name, instanceId: sampler.vm.instanceId, file, stats: { ...sampler.stats } });
  }
  return result;
}
