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
    cpu_pct: cpu,
    memory_pct: mem,
    free_cpu_cores: vcpus !== null && Number.isFinite(cpu) ? Math.max(0, (vcpus * (100 - cpu)) / 100) : 0,
    free_memory_gib: memoryMb !== null && Number.isFinite(mem) ? Math.max(0, (memoryMb * (100 - mem)) / 100 / 1024) : 0,
  };
}

export type Order = 'most-utilised' | 'least-utilised';

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
    // Bounded selection: keep the best k seen so far in a small sorted array (O(V·log k) comparisons
    // plus O(k) moves on insert, which is cheap for the small k a placement asks for).
    const best: VmHeadroom[] = [];
    for (const vm of this.profiler.states()) {
      const h = headroomOf(vm);
      if (h.free_memory_gib < minFreeMemoryGiB || h.free_cpu_cores < minFreeCpuCores) continue;
      if (!Number.isFinite(h.cpu_pct) || !Number.isFinite(h.memory_pct)) continue;
      if (best.length === k && compareFree(h, best[k - 1]!) >= 0) continue;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareFree(best[mid]!, h) <= 0) lo = mid + 1;
        else hi = mid;
      }
      best.splice(lo, 0, h);
      if (best.length > k) best.pop();
    }
    return best;
  }
}

function compareFree(a: VmHeadroom, b: VmHeadroom): number {
  return b.free_cpu_cores - a.free_cpu_cores || b.free_memory_gib - a.free_memory_gib || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0);
}
