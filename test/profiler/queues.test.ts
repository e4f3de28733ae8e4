import { describe, expect, it } from 'vitest';
import type { StoredSample } from '../../pipeline/sample';
import { Profiler } from '../../profiler/profiler';
import { UtilisationQueues } from '../../profiler/queues';
import { prng } from '../../lib/random';

const NOW = new Date('2024-01-01T00:00:00Z');
const gauge = (vm: string, name: string, v: number, vcpus: number, memoryMb: number): StoredSample => ({
  counter_name: name,
  counter_type: 'gauge',
  counter_unit: name === 'cpu_util' ? '%' : 'MiB',
  counter_volume: v,
  user_id: 'u',
  project_id: 'p',
  resource_id: vm,
  timestamp: NOW,
  resource_metadata: { vcpus, memory_mb: memoryMb },
  source: 'openstack',
  message_id: `${vm}-${name}`,
  message_signature: '',
  bson_size: 1,
  recorded_at: NOW,
});

function fleet(n: number, seed: number) {
  const rand = prng(seed);
  const p = new Profiler({ window: 1 });
  const truth: { vm: string; freeCores: number; freeGiB: number; cpu: number }[] = [];
  for (let i = 0; i < n; i++) {
    const vm = `vm-${i}`;
    const vcpus = [1, 2, 4, 8, 16][Math.floor(rand() * 5)]!;
    const mem = [2048, 4096, 8192, 32768][Math.floor(rand() * 4)]!;
    const cpu = rand() * 110;
    const used = rand() * mem;
    p.onStored([gauge(vm, 'cpu_util', cpu, vcpus, mem), gauge(vm, 'memory.usage', used, vcpus, mem)]);
    truth.push({ vm, cpu, freeCores: Math.max(0, (vcpus * (100 - cpu)) / 100), freeGiB: (mem - used) / 1024 });
  }
  return { p, truth };
}

describe('utilisation queues', () => {
  it('returns the k VMs with the most free CPU that also have ≥ X GiB free memory (brute-force check)', () => {
    const { p, truth } = fleet(3000, 11);
    const q = new UtilisationQueues(p);
    for (const [k, minGiB] of [[5, 4], [20, 0], [1, 20], [50, 2.5]] as const) {
      const got = q.mostFreeCpu({ k, minFreeMemoryGiB: minGiB });
      const want = truth
        .filter((t) => t.freeGiB >= minGiB)
        .sort((a, b) => b.freeCores - a.freeCores || b.freeGiB - a.freeGiB || (a.vm < b.vm ? -1 : 1))
        .slice(0, k);
      expect(got.map((h) => h.vm)).toEqual(want.map((t) => t.vm));
      for (const h of got) expect(h.free_memory_gib).toBeGreaterThanOrEqual(minGiB);
    }
    expect(q.mostFreeCpu({ k: 10, minFreeMemoryGiB: 1e6 })).toEqual([]);
  });

  it('orders VMs by utilisation of a resource, both ways, and by free headroom', () => {
    const { p, truth } = fleet(200, 3);
    const q = new UtilisationQueues(p);
    const least = q.byUtilisation('cpu').map((x) => x.utilisation);
    expect(least).toEqual([...truth.map((t) => t.cpu)].sort((a, b) => a - b));
    expect(q.byUtilisation('cpu', 'most-utilised')[0]!.utilisation).toBe(Math.max(...truth.map((t) => t.cpu)));
    const free = q.byFreeCpu().map((h) => h.free_cpu_cores);
    expect(free).toEqual([...free].sort((a, b) => b - a));
    expect(q.byUtilisation('disk.read')).toEqual([]); // no VM reported disk I/O
    expect(() => q.byUtilisation('gpu' as never)).toThrow(/unknown resource "gpu"/);
  });

  it('reflects new samples without any rebuild (updates are the profiler’s window pushes)', () => {
    const { p } = fleet(50, 5);
    const q = new UtilisationQueues(p);
    const top = q.mostFreeCpu({ k: 1 })[0]!;
    const later = new Date(NOW.getTime() + 60_000);
    p.onStored([{ ...gauge(top.vm, 'cpu_util', 100, top.vcpus!, top.memory_mb!), timestamp: later }]);
    expect(q.mostFreeCpu({ k: 1 })[0]!.vm).not.toBe(top.vm);
  });
});
