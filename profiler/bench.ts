import v8 from 'node:v8';
import vm from 'node:vm';
import type { StoredSample } from '../pipeline/sample';
import { Profiler } from './profiler';
import { PartitionedProfiler } from './partitioned';
import { partitionKey } from './partition-state';

/**
 * Profiler benchmark: in-process throughput of `onStored` (one core: the profiler is synchronous) and
 * memory per tracked VM. Samples are pre-built (a realistic compute-agent mix per VM and poll: vcpus,
 * memory, memory.usage, cpu_util, cpu, disk read/write on `<vm>-vda`, network in/out on a vNIC), so the
 * timing covers the profiler only.
 */

export interface ProfilerBenchResult {
  samples_per_s_per_core: number;
  bytes_per_vm: number;
  samples: number;
  vms: number;
  window: number;
  elapsed_ms: number;
  memory_method: 'gc' | 'heap-statistics';
  /** The same replay through the partitioned profiler (3 partitions keyed by resource_id). */
  partitioned_samples_per_s_per_core?: number;
}

/** A stable partition for a resource id (what a keyed producer does; the hash itself does not matter here). */
function hashPartition(resourceId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < resourceId.length; i++) h = (h * 31 + resourceId.charCodeAt(i)) | 0;
  return Math.abs(h) % partitions;
}

const uuid = (i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

function buildSamples(vms: number, polls: number): StoredSample[] {
  const out: StoredSample[] = [];
  const t0 = Date.UTC(2024, 0, 1);
  const recorded = new Date();
  const mds = Array.from({ length: vms }, (_, v) => ({ display_name: `vm-${v}`, instance_id: uuid(v), vcpus: 4, memory_mb: 8192, flavor: { vcpus: 4, ram: 8192 } }));
  const counters = new Float64Array(vms * 5);
  for (let p = 0; p < polls; p++) {
    const ts = new Date(t0 + p * 300_000);
    for (let v = 0; v < vms; v++) {
      const id = uuid(v);
      const md = mds[v]!;
      const mk = (name: string, type: StoredSample['counter_type'], volume: number, rid = id): StoredSample => ({
        counter_name: name,
        counter_type: type,
        counter_unit: '',
        counter_volume: volume,
        user_id: 'u',
        project_id: 'p',
        resource_id: rid,
        timestamp: ts,
        resource_metadata: md,
        source: 'openstack',
        message_id: '',
        message_signature: '',
        bson_size: 1150,
        recorded_at: recorded,
      });
      const c = v * 5;
      const load = ((v * 7 + p * 13) % 100) / 100;
      counters[c] += load * 4 * 300e9;
      for (let k = 1; k < 5; k++) counters[c + k] += (load * 1e6 + k) * 300;
      out.push(
        mk('memory.usage', 'gauge', 8192 * load),
        mk('cpu_util', 'gauge', load * 100),
        mk('cpu', 'cumulative', counters[c]!),
        mk('disk.device.read.bytes', 'cumulative', counters[c + 1]!, `${id}-vda`),
        mk('disk.device.write.bytes', 'cumulative', counters[c + 2]!, `${id}-vda`),
        mk('network.incoming.bytes', 'cumulative', counters[c + 3]!, `instance-${v}-${id}-tap0`),
        mk('network.outgoing.bytes', 'cumulative', counters[c + 4]!, `instance-${v}-${id}-tap0`),
      );
    }
  }
  return out;
}

/** `global.gc` when node runs with --expose-gc, else one obtained by enabling the flag at run time. */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapUsed(gc: (() => void) | undefined): number {
  if (gc) {
    gc();
    gc();
  }
  return v8.getHeapStatistics().used_heap_size;
}

export async function benchProfiler(options: { vms?: number; polls?: number; window?: number; rounds?: number; print?: boolean } = {}): Promise<ProfilerBenchResult> {
  const vms = options.vms ?? 2000;
  const polls = options.polls ?? 60;
  const window = options.window ?? 12;
  const rounds = options.rounds ?? 3;
  const samples = buildSamples(vms, polls);
  const batch = 500;

  // Throughput: best of `rounds` full replays into a fresh profiler (first round also warms the JIT).
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const profiler = new Profiler({ window, idleTtlMs: Infinity, maxVms: vms });
    const t = process.hrtime.bigint();
    for (let i = 0; i < samples.length; i += batch) profiler.onStored(samples.slice(i, i + batch));
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (ms < best) best = ms;
    if (profiler.stats.accepted === 0) throw new Error('benchmark profiler accepted no samples');
  }
  const samplesPerS = samples.length / (best / 1000);

  // The same replay through the partitioned profiler (profiler.cluster.state: store), 3 partitions keyed
  // by resource_id, positions alongside: the hot-path cost of per-partition state (no I/O in the loop).
  const positions = samples.map((s, i) => ({ topic: 'ingest', partition: hashPartition(s.resource_id, 3), offset: String(i) }));
  let bestParted = Infinity;
  for (let r = 0; r < rounds; r++) {
    const parted = new PartitionedProfiler({ window, idleTtlMs: Infinity, maxVms: vms }, 'bench');
    for (let p = 0; p < 3; p++) parted.load(partitionKey('ingest', p), [], -1); // the consumer announces its partitions
    const t = process.hrtime.bigint();
    for (let i = 0; i < samples.length; i += batch) parted.onStored(samples.slice(i, i + batch), positions.slice(i, i + batch));
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (ms < bestParted) bestParted = ms;
    if (parted.stats.accepted === 0) throw new Error('benchmark partitioned profiler accepted no samples');
  }

  // Memory per VM: heap delta of a profiler holding `memVms` VMs with full windows on every resource.
  const memVms = 5000;
  const memSamples = buildSamples(memVms, window + 2);
  const gc = findGc();
  const method = gc ? 'gc' : 'heap-statistics';
  const before = heapUsed(gc);
  const held = new Profiler({ window, idleTtlMs: Infinity, maxVms: memVms });
  held.onStored(memSamples);
  const after = heapUsed(gc); // memSamples is still referenced below, so only the profiler's state is in the delta
  const bytesPerVm = Math.max(0, (after - before) / held.size);
  if (memSamples.length === 0) throw new Error('unreachable');

  const result: ProfilerBenchResult = {
    samples_per_s_per_core: Math.round(samplesPerS),
    partitioned_samples_per_s_per_core: Math.round(samples.length / (bestParted / 1000)),
    bytes_per_vm: Math.round(bytesPerVm),
    samples: samples.length,
    vms,
    window,
    elapsed_ms: Math.round(best * 10) / 10,
    memory_method: method,
  };
  if (options.print !== false) {
    process.stdout.write(
      `profiler: ${result.samples_per_s_per_core.toLocaleString('en-US')} samples/s per core ` +
        `(${result.samples.toLocaleString('en-US')} samples, ${vms} VMs, window ${window}, best of ${rounds}: ${result.elapsed_ms} ms)\n` +
        `profiler: ${result.partitioned_samples_per_s_per_core!.toLocaleString('en-US')} samples/s per core partitioned (profiler.cluster.state: store; 3 partitions, state writes not included)\n` +
        `profiler: ${result.bytes_per_vm.toLocaleString('en-US')} bytes per tracked VM (${memVms} VMs, 6 resources, full windows; ${method})\n`,
    );
  }
  return result;
}
