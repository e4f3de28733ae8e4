import { RESOURCES, type Resource } from './config';
import { RESOURCE_INDEX } from './meters';
import { resourceAvg, type Profiler, type VmState } from './profiler';

/**
 * Utilisation queues (paper §III-B: "queues of resources sorted based on estimated utilisation").
 *
 * Updates are the profiler's O(1) window pushes; the queues themselves hold no copy of the state and
 * order the VMs at query time: a full ranking is O(V log V), a top-k query O(V log k) with a bounded
 * selection. With thousands of VMs that is well under a millisecond per query
 * (see docs/profiler.md), and it keeps the per-sample path free of heap maintenance, which matters
 * more: samples arrive at 10⁵–10⁶/s, placement queries a few times a minute.
 */

/** A VM's current standing: utilisation and free headroom. */
export interface VmHeadroom {
  vm: string;
  name: string;
  vcpus: number | null;
  memory_mb: number | null;
  /** Keystone project of the VM, null when unknown. */
  project: string | null;
  /** Moving-average CPU utilisation, % of the VM's vCPUs (NaN when unknown). */
  cpu_pct: number;
  /** Moving-average memory used, % of the VM's memory (NaN when unknown). */
  memory_pct: number;
  /** Free CPU in cores: vcpus × (100 − cpu%) / 100, never below 0. */
  free_cpu_cores: number;
  /** Free memory in GiB: memory × (100 − mem%) / 100, never below 0. */
  free_memory_gib: number;
}

export function headroomOf(vm: VmState): VmHeadroom {
  const cpu = resourceAvg(vm, RESOURCE_INDEX.cpu);
  const mem = resourceAvg(vm, RESOURCE_INDEX.memory);
  const vcpus = Number.isFinite(vm.vcpus) ? vm.vcpus : null;
  const memoryMb = Number.isFinite(vm.memoryMb) ? vm.memoryMb : null;
  return {
    vm: vm.id,
    name: vm.name,
    vcpus,
    memory_mb: memoryMb,
    project: vm.project,
    cpu_pct: cpu,
    memory_pct: mem,
    free_cpu_cores: vcpus !== null && Number.isFinite(cpu) ? Math.max(0, (vcpus * (100 - cpu)) / 100) : 0,
    free_memory_gib: memoryMb !== null && Number.isFinite(mem) ? Math.max(0, (memoryMb * (100 - mem)) / 100 / 1024) : 0,
  };
}

export type Order = 'most-utilised' | 'least-utilised';

/** What a queue ranks by: cpu and memory (% of the VM), disk (read + write B/s), network (in + out B/s). */
export const QUEUE_RESOURCES = ['cpu', 'memory', 'disk', 'network'] as const;
export type QueueResource = (typeof QUEUE_RESOURCES)[number];

/** A VM in a queue: its headroom plus disk and network rates and the value it was ranked by. */
export interface QueueEntry extends VmHeadroom {
  /** Free CPU, % of the VM's vCPUs (100 − cpu_pct, never below 0; NaN when unknown). */
  free_cpu_pct: number;
  /** Disk read + write, B/s (NaN when unknown). */
  disk_bytes_per_s: number;
  /** Network in + out, B/s (NaN when unknown). */
  network_bytes_per_s: number;
  /** The value the queue is ordered by (see `QueueQuery`). */
  value: number;
}

export interface QueueQuery {
  resource: QueueResource;
  /**
   * `free`: most room first — cpu by free cores, memory by free GiB, disk/network by the lowest rate.
   * `used`: most utilised first — cpu/memory by %, disk/network by the highest rate.
   */
  order: 'free' | 'used';
  k: number;
  /** Only VMs with at least this much free memory (GiB). */
  minFreeMemoryGiB?: number;
  /** Only VMs with at least this much free CPU, % of their vCPUs. */
  minFreeCpuPct?: number;
  /** Only VMs this returns true for (e.g. a project scope). */
  accept?: (vm: VmState) => boolean;
}

const sumOf = (vm: VmState, a: Resource, b: Resource): number => {
  const x = resourceAvg(vm, RESOURCE_INDEX[a]);
  const y = resourceAvg(vm, RESOURCE_INDEX[b]);
  return Number.isNaN(x) ? y : Number.isNaN(y) ? x : x + y;
};

function entryOf(vm: VmState, q: QueueQuery): QueueEntry {
  const h = headroomOf(vm);
  const disk = sumOf(vm, 'disk.read', 'disk.write');
  const net = sumOf(vm, 'network.in', 'network.out');
  const e: QueueEntry = { ...h, free_cpu_pct: Number.isFinite(h.cpu_pct) ? Math.max(0, 100 - h.cpu_pct) : NaN, disk_bytes_per_s: disk, network_bytes_per_s: net, value: NaN };
  const free = q.order === 'free';
  switch (q.resource) {
    case 'cpu':
      e.value = !Number.isFinite(h.cpu_pct) ? NaN : free ? h.free_cpu_cores : h.cpu_pct;
      break;
    case 'memory':
      e.value = !Number.isFinite(h.memory_pct) ? NaN : free ? h.free_memory_gib : h.memory_pct;
      break;
    case 'disk':
      e.value = disk;
      break;
    case 'network':
      e.value = net;
      break;
  }
  return e;
}

export interface FreeQuery {
  /** How many VMs to return. */
  k: number;
  /** Only VMs with at least this much free memory (GiB). Default 0. */
  minFreeMemoryGiB?: number;
  /** Only VMs with at least this many free cores. Default 0. */
  minFreeCpuCores?: number;
}

export class UtilisationQueues {
  constructor(private readonly profiler: Profiler) {}

  /**
   * VMs ordered by moving-average utilisation of `resource` (VMs without a value for it are left
   * out). Ties are broken by VM id so the order is deterministic.
   */
  byUtilisation(resource: Resource, order: Order = 'least-utilised'): { vm: string; name: string; utilisation: number }[] {
    const r = RESOURCE_INDEX[resource];
    if (r === undefined) throw new Error(`unknown resource "${resource}"; expected one of ${RESOURCES.join(', ')}`);
    const out: { vm: string; name: string; utilisation: number }[] = [];
    for (const vm of this.profiler.states()) {
      const u = resourceAvg(vm, r);
      if (Number.isFinite(u)) out.push({ vm: vm.id, name: vm.name, utilisation: u });
    }
    const sign = order === 'least-utilised' ? 1 : -1;
    out.sort((a, b) => sign * (a.utilisation - b.utilisation) || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
    return out;
  }

  /** Every VM's headroom, most free CPU cores first (then most free memory, then id). */
  byFreeCpu(): VmHeadroom[] {
    const all = [...this.profiler.states()].map(headroomOf);
    return all.sort(compareFree);
  }

  /** The k VMs with the most free CPU (cores) that also have ≥ minFreeMemoryGiB free memory. */
  mostFreeCpu(query: FreeQuery): VmHeadroom[] {
    const { k, minFreeMemoryGiB = 0, minFreeCpuCores = 0 } = query;
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
    if (k === 0) return [];
    const best: VmHeadroom[] = [];
    for (const vm of this.profiler.states()) {
      const h = headroomOf(vm);
      if (h.free_memory_gib < minFreeMemoryGiB || h.free_cpu_cores < minFreeCpuCores) continue;
      if (!Number.isFinite(h.cpu_pct) || !Number.isFinite(h.memory_pct)) continue;
      keepBest(best, h, k, compareFree);
    }
    return best;
  }
}

/**
 * The k best VMs of a queue (bounded selection, O(V·log k)). VMs without a value for the resource, or
 * below the free-memory / free-CPU thresholds (which need a CPU and memory profile), are left out.
 * Ties are broken by more free cores, more free memory, then VM id, so the order is deterministic.
 */
export function queue(profiler: Profiler, q: QueueQuery): QueueEntry[] {
  const { k, minFreeMemoryGiB = 0, minFreeCpuPct = 0 } = q;
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
  if (!(QUEUE_RESOURCES as readonly string[]).includes(q.resource)) throw new RangeError(`unknown queue resource "${q.resource}"; expected one of ${QUEUE_RESOURCES.join(', ')}`);
  // Higher value first, except free disk/network (lowest rate = most room first).
  const sign = q.order === 'free' && (q.resource === 'disk' || q.resource === 'network') ? 1 : -1;
  const cmp = (a: QueueEntry, b: QueueEntry) => sign * (a.value - b.value) || compareFree(a, b);
  const thresholds = minFreeMemoryGiB > 0 || minFreeCpuPct > 0;
  const best: QueueEntry[] = [];
  if (k === 0) return best;
  for (const vm of profiler.states()) {
    if (q.accept && !q.accept(vm)) continue;
    const e = entryOf(vm, q);
    if (Number.isNaN(e.value)) continue;
    if (thresholds) {
      if (!Number.isFinite(e.cpu_pct) || !Number.isFinite(e.memory_pct)) continue;
      if (e.free_memory_gib < minFreeMemoryGiB || e.free_cpu_pct < minFreeCpuPct) continue;
    }
    keepBest(best, e, k, cmp);
  }
  return best;
}

/**
 * Bounded selection: `best` holds the best k seen so far, sorted by `cmp` (O(log k) comparisons plus
 * O(k) moves per insert, which is cheap for the small k a placement asks for).
 */
function keepBest<T>(best: T[], x: T, k: number, cmp: (a: T, b: T) => number): void {
  if (best.length === k && cmp(x, best[k - 1]!) >= 0) return;
  let lo = 0;
  let hi = best.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(best[mid]!, x) <= 0) lo = mid + 1;
    else hi = mid;
  }
  best.splice(lo, 0, x);
  if (best.length > k) best.pop();
}

/** Most free CPU cores first, then most free memory, then VM id (deterministic). */
export function compareFree(a: VmHeadroom, b: VmHeadroom): number {
  return b.free_cpu_cores - a.free_cpu_cores || b.free_memory_gib - a.free_memory_gib || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0);
}
