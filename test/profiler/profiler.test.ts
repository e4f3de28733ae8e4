import { mean } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import type { Sample, StoredSample } from '../../pipeline/sample';
import { asStored } from '../../profiler/offline';
import { Profiler, type VmUtilisation } from '../../profiler/profiler';
import { parseSnapshot, restoreProfiler, snapshotOf } from '../../profiler/snapshot';
import { TraceSampler } from '../../profiler/trace-samples';
import { polledRows, rowsOf } from './helpers';

const NOW = new Date('2024-01-01T00:00:00Z');
const VM = '11111111-2222-4333-8444-555555555555';

function sample(name: string, volume: number, tsSec: number, extra: Partial<StoredSample> = {}): StoredSample {
  return {
    counter_name: name,
    counter_type: name === 'cpu' || name.endsWith('.bytes') ? 'cumulative' : 'gauge',
    counter_unit: '',
    counter_volume: volume,
    user_id: 'u',
    project_id: 'p',
    resource_id: VM,
    timestamp: new Date(tsSec * 1000),
    resource_metadata: { instance_id: VM, vcpus: 2, memory_mb: 4096 },
    source: 'openstack',
    message_id: `${name}-${tsSec}`,
    message_signature: '',
    bson_size: 1000,
    recorded_at: NOW,
    ...extra,
  };
}

/** Same VM state; averages equal up to summation order (the restored window re-adds its values). */
function expectSame(a: VmUtilisation, b: VmUtilisation): void {
  expect({ ...a, resources: undefined }).toEqual({ ...b, resources: undefined });
  expect(Object.keys(a.resources).sort()).toEqual(Object.keys(b.resources).sort());
  for (const [k, r] of Object.entries(a.resources)) {
    const o = b.resources[k as keyof typeof b.resources]!;
    expect([k, r.window, r.samples]).toEqual([k, o.window, o.samples]);
    expect(r.avg).toBeCloseTo(o.avg, 9);
  }
}

function traceSamples(vm: string): Sample[] {
  const s = new TraceSampler(vm);
  return rowsOf(vm).flatMap((r) => s.samples(r));
}

describe('profiler on real Bitbrains traces', () => {
  it('CPU and memory moving averages equal the mean of the last n polled values (duplicates, zero rows, CPU > 100 %)', () => {
    const vms = ['27', '265', '41', '123'];
    const profilers = [1, 12, 30].map((n) => new Profiler({ window: n }));
    const ids = vms.map((name) => ({ name, instanceId: new TraceSampler(name).vm.instanceId }));
    for (const vm of vms) {
      const stored = asStored(traceSamples(vm), NOW);
      for (const p of profilers) p.onStored(stored);
    }
    for (const profiler of profilers) {
      const n = profiler.options.window;
      for (const { name, instanceId } of ids) {
        const rows = polledRows(rowsOf(name));
        const last = rows.slice(-n);
        const u = profiler.utilisation(instanceId)!;
        expect(u.name).toBe(name);
        expect(u.resources.cpu!.samples, name).toBe(rows.length);
        expect(u.resources.cpu!.window).toBe(n);
        expect(u.resources.cpu!.avg, name).toBeCloseTo(mean(last.map((r) => r.cpu_usage_pct)), 9);
        expect(u.resources.memory!.avg, name).toBeCloseTo(mean(last.map((r) => (r.memory_usage_kb / r.memory_capacity_kb) * 100)), 9);
        // network: counter deltas → B/s between consecutive polls = the row's KB/s × 1024 (± rounding to whole bytes)
        const netIn = mean(last.map((r) => r.net_rx_kbps * 1024));
        expect(Math.abs(u.resources['network.in']!.avg - netIn)).toBeLessThan(0.01 + netIn * 1e-9);
      }
      if (n === 12) expect(profiler.utilisation(ids.find((v) => v.name === '41')!.instanceId)!.resources.cpu!.avg).toBeGreaterThan(100);
    }
  });

  it('derives CPU % from the cumulative cpu counter alone: Δns / (Δt·1e9·vcpus)·100', () => {
    const profiler = new Profiler({ window: 12 });
    const samples = traceSamples('27').filter((s) => s.counter_name !== 'cpu_util');
    profiler.onStored(asStored(samples, NOW));
    const rows = polledRows(rowsOf('27'));
    const cpu = profiler.utilisation(new TraceSampler('27').vm.instanceId)!.resources.cpu!;
    expect(cpu.samples).toBe(rows.length - 1); // the first counter value is only a baseline
    expect(cpu.avg).toBeCloseTo(mean(rows.slice(-12).map((r) => r.cpu_usage_pct)), 4);
    expect(profiler.stats.baselines).toBeGreaterThan(0);
  });

  it('counts and drops duplicate and out-of-order samples (a replayed batch changes nothing)', () => {
    const profiler = new Profiler({ window: 12 });
    const samples = asStored(traceSamples('62'), NOW);
    profiler.onStored(samples);
    const id = new TraceSampler('62').vm.instanceId;
    const before = profiler.utilisation(id)!;
    const accepted = profiler.stats.accepted;
    const tail = samples.slice(-9 * 5); // last five rows again: duplicates of the newest, older ones out of order
    profiler.onStored(tail);
    expect(profiler.utilisation(id)!.resources).toEqual(before.resources);
    expect(profiler.stats.accepted).toBe(accepted);
    expect(profiler.stats.duplicates).toBe(6); // cpu_util, memory.usage, disk r/w, net in/out of the last row
    expect(profiler.stats.out_of_order).toBe(6 * 4);
    expect(profiler.stats.shadowed).toBeGreaterThan(0); // `cpu` while `cpu_util` is reported
  });

  it('handles a counter reset: the new value is the delta since the reset', () => {
    const p = new Profiler({ window: 3 });
    p.onStored([sample('cpu', 1_000e9, 0), sample('cpu', 1_060e9, 60), sample('cpu', 30e9, 120)]);
    const cpu = p.utilisation(VM)!.resources.cpu!;
    // 60 s of 2 vCPUs: 60e9 ns → 50 %, then after the reset 30e9 ns → 25 %
    expect(cpu.avg).toBeCloseTo((50 + 25) / 2, 9);
    expect(p.stats.resets).toBe(1);
  });

  it('re-bases a counter after a gap longer than maxRateGapMs instead of averaging over it', () => {
    const p = new Profiler({ window: 3, maxRateGapMs: 3_600_000 });
    p.onStored([sample('cpu', 0, 0), sample('cpu', 120e9, 60), sample('cpu', 9_000e9, 60 + 7200), sample('cpu', 9_060e9, 60 + 7260)]);
    expect(p.stats.gaps).toBe(1);
    expect(p.utilisation(VM)!.resources.cpu!.avg).toBeCloseTo((100 + 50) / 2, 9);
  });

  it('maps per-device ids to the instance, with or without resource_metadata.instance_id', () => {
    const p = new Profiler({ window: 4 });
    const noMd = { resource_metadata: {} };
    p.onStored([
      sample('disk.device.read.bytes', 0, 0, { resource_id: `${VM}-vda` }),
      sample('disk.device.read.bytes', 6000, 60, { resource_id: `${VM}-vda` }),
      sample('disk.device.read.bytes', 0, 0, { resource_id: `${VM}-vdb`, ...noMd }),
      sample('disk.device.read.bytes', 3000, 60, { resource_id: `${VM}-vdb`, ...noMd }),
      sample('network.incoming.bytes', 0, 0, { resource_id: `instance-0000001b-${VM}-tap1234`, ...noMd }),
      sample('network.incoming.bytes', 600, 60, { resource_id: `instance-0000001b-${VM}-tap1234`, ...noMd }),
    ]);
    expect(p.size).toBe(1);
    const r = p.utilisation(VM)!.resources;
    expect(r['disk.read']!.avg).toBeCloseTo(100 + 50, 9); // devices add up
    expect(r['network.in']!.avg).toBeCloseTo(10, 9);
  });

  it('computes memory % from memory.usage over the flavor size, and counts samples before the size is known', () => {
    const p = new Profiler({ window: 2 });
    p.onStored([sample('memory.usage', 512, 0, { resource_metadata: {} }), sample('memory.usage', 1024, 60, { resource_metadata: { flavor: { ram: 2048, vcpus: 1 } } })]);
    expect(p.stats.unsized).toBe(1);
    expect(p.utilisation(VM)!.resources.memory!.avg).toBe(50);
    expect(p.utilisation(VM)!.vcpus).toBe(1);
  });

  it('bounds memory: idle VMs expire after the TTL and the oldest VM is evicted at the cap', () => {
    const p = new Profiler({ idleTtlMs: 60_000, maxVms: 2 });
    const at = (id: string, arrivalS: number) =>
      sample('cpu_util', 10, arrivalS, { resource_id: id, recorded_at: new Date(arrivalS * 1000) });
    p.onStored([at('a', 0), at('b', 10)]);
    p.onStored([at('c', 20)]);
    expect(p.stats.evicted).toBe(1);
    expect(p.state('a')).toBeUndefined();
    p.onStored([at('c', 75)]); // b's last sample arrived at 10 s: idle for 65 s > 60 s
    expect(p.state('b')).toBeUndefined();
    expect(p.state('c')).toBeDefined();
    expect(p.stats.expired).toBe(1);
  });

  it('survives a restart: snapshot → new profiler gives the same averages and continues identically', () => {
    const samples = asStored(traceSamples('105'), NOW);
    const half = Math.floor(samples.length / 2);
    const uninterrupted = new Profiler({ window: 12 });
    uninterrupted.onStored(samples);

    const first = new Profiler({ window: 12 });
    first.onStored(samples.slice(0, half));
    const json = JSON.parse(JSON.stringify(snapshotOf(first)));
    const restored = restoreProfiler(parseSnapshot(json), { window: 12 });
    const id = new TraceSampler('105').vm.instanceId;
    expectSame(restored.utilisation(id)!, first.utilisation(id)!);
    restored.onStored(samples.slice(half));
    expectSame(restored.utilisation(id)!, uninterrupted.utilisation(id)!);
    expect(restored.stats.duplicates).toBe(0);
  });

  it('rejects a corrupt snapshot naming the field', () => {
    expect(() => parseSnapshot({ version: 1, saved_at: '', resources: [], stats: {}, vms: [{ id: '' }] }, 'state.json')).toThrow(/state\.json: .*vms\.0\.id/);
  });
});
