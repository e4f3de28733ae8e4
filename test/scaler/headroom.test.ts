import { describe, expect, it } from 'vitest';
import type { StoredSample } from '../../pipeline/sample';
import { Profiler } from '../../profiler/profiler';
import { UtilisationQueues } from '../../profiler/queues';
import { queuesHeadroom } from '../../scaler/actuator';

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
