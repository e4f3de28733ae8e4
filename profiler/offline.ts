import type { Sample, StoredSample } from '../pipeline/sample';
import { readBitbrains, traceVmName } from './bitbrains';
import { resourceAvg, type Profiler, type VmState } from './profiler';
import { RESOURCE_INDEX } from './meters';
import type { VmProfile } from './predictor';
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
  const out: StoredSample[] = new Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    // An explicit literal (not a spread) keeps this cheap: it runs for every replayed sample.
    out[i] = {
      counter_name: s.counter_name,
      counter_type: s.counter_type,
      counter_unit: s.counter_unit,
      counter_volume: s.counter_volume,
      user_id: s.user_id,
      project_id: s.project_id,
      resource_id: s.resource_id,
      timestamp: s.timestamp,
      resource_metadata: s.resource_metadata,
      source: s.source,
      message_id: s.message_id,
      message_signature: s.message_signature,
      bson_size: 0,
      recorded_at: recordedAt,
    };
  }
  return out;
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

/** Predictor input from a profiler's state: VMs with known size and CPU and memory utilisation. */
export function profilesOf(states: Iterable<VmState>): { profiles: VmProfile[]; skipped: string[] } {
  const profiles: VmProfile[] = [];
  const skipped: string[] = [];
  for (const vm of states) {
    const cpu = resourceAvg(vm, RESOURCE_INDEX.cpu);
    const mem = resourceAvg(vm, RESOURCE_INDEX.memory);
    if (Number.isFinite(cpu) && Number.isFinite(mem) && vm.vcpus > 0 && vm.memoryMb > 0) {
      profiles.push({ vm: vm.id, name: vm.name, cpu_pct: cpu, memory_pct: mem, vcpus: vm.vcpus, memory_mb: vm.memoryMb });
    } else skipped.push(vm.name);
  }
  return { profiles, skipped };
}
