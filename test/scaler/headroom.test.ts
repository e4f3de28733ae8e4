import { describe, expect, it } from 'vitest';
import type { StoredSample } from '../../pipeline/sample';
import { Profiler } from '../../profiler/profiler';
import { UtilisationQueues } from '../../profiler/queues';
import { capsHeadroom, queuesHeadroom } from '../../scaler/actuator';

const t0 = Date.parse('2026-01-01T00:00:00Z');
let n = 0;
function sample(vm: string, counter_name: string, counter_volume: number, minute: number): StoredSample {
  const timestamp = new Date(t0 + minute * 60_000);
  return {
    counter_name,
    counter_type: 'gauge',
    counter_unit: counter_name === 'cpu_util' ? '%' : 'MB',
    counter_volume,
    user_id: 'u',
    project_id: 'p',
    resource_id: vm,
    timestamp,
    resource_metadata: { display_name: vm },
    source: 'openstack',
    message_id: `m${n++}`,
    message_signature: '',
    bson_size: 1000,
    recorded_at: timestamp,
  };
}

/** Two VMs of 4 vCPUs / 8 GiB: vmBusy at 90% CPU, vmIdle at 20% CPU; a small VM with 1 vCPU at 5%. */
function profiled(): UtilisationQueues {
  const p = new Profiler();
  const vms: [string, number, number, number][] = [['vmBusy', 4, 8192, 90], ['vmIdle', 4, 8192, 20], ['vmTiny', 1, 1024, 5]];
  for (const [vm, vcpus, mem, cpu] of vms) {
    p.onStored([sample(vm, 'vcpus', vcpus, 0), sample(vm, 'memory', mem, 0)]);
    for (let m = 0; m < 5; m++) p.onStored([sample(vm, 'cpu_util', cpu, m), sample(vm, 'memory.usage', mem * 0.5, m)]);
  }
  return new UtilisationQueues(p);
}

describe('new replica sets go to the VM with the most headroom (profiler queues)', () => {
  it('picks the least loaded VM that can host a mongod', () => {
    const pick = queuesHeadroom(profiled()).pickHost();
    expect(pick?.vm).toBe('vmIdle');
    expect(pick?.cpu).toBeCloseTo(20);
    expect(pick?.headroom).toBeCloseTo(3.2); // 4 vCPUs × 80% free
  });

  it('returns none when no VM has the required room', () => {
    expect(queuesHeadroom(profiled(), { minFreeCpuCores: 8 }).pickHost()).toBeUndefined();
  });
});

describe('SSH placement: the profiler\'s queue within the caps (+15 pp CPU, +10 pp memory)', () => {
  const caps = { cpu_pp: 15, memory_pp: 10, ceiling_pct: 90 };
  it('takes the freest allowed VM on which a member stays within the caps, and says why', () => {
    const pick = capsHeadroom(profiled(), ['vmBusy', 'vmIdle', 'vmTiny'], { cpuCores: 0.5, memoryMiB: 512 }, caps).pickHost();
    expect(pick?.vm).toBe('vmIdle'); // 0.5/4 cores = +12.5 pp ≤ 15; 512/8192 MiB = +6.25 pp ≤ 10
    expect(pick?.reason).toMatch(/vmIdle: most free CPU .*CPU 20% → 32.5% \(\+12.5 pp ≤ 15\), memory 50% → 56.3% \(\+6.3 pp ≤ 10\)/);
  });

  it('skips VMs that are not allowed, would break a cap or the ceiling, or already host the shard', () => {
    // only the busy and the tiny VM allowed: busy 90% + 12.5 > ceiling 90; tiny: 0.5 of 1 core = +50 pp > 15
    expect(() => capsHeadroom(profiled(), ['vmBusy', 'vmTiny'], { cpuCores: 0.5, memoryMiB: 512 }, caps).pickHost()).toThrow(
      /no VM can host another member within the caps: vmTiny: \+50 pp CPU > cap \+15; vmBusy: CPU 90% \+ 12.5 pp > ceiling 90%/,
    );
    // memory: 1 GiB on an 8 GiB VM is +12.5 pp > 10
    expect(() => capsHeadroom(profiled(), ['vmIdle'], { cpuCores: 0.5, memoryMiB: 1024 }, caps).pickHost()).toThrow(/vmIdle: \+12.5 pp memory > cap \+10/);
    expect(() => capsHeadroom(profiled(), ['vmIdle'], { cpuCores: 0.5, memoryMiB: 512 }, caps).pickHost({ exclude: ['vmIdle'] })).toThrow(/vmIdle: already hosts a member of this replica set/);
    expect(() => capsHeadroom(profiled(), ['vmIdle', 'vm-unknown'], { cpuCores: 0.5, memoryMiB: 512 }, caps).pickHost({ exclude: ['vmIdle'] })).toThrow(/vm-unknown: not profiled/);
  });
});
