import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Sample, SamplePosition } from '../../pipeline/sample';
import { asStored } from '../../profiler/offline';
import { mergeParts, mergeVmParts, offsetNumber, partitionKey, replaceableFilter, replaces } from '../../profiler/partition-state';
import { PartitionedProfiler } from '../../profiler/partitioned';
import { newVmState, Profiler, type VmUtilisation } from '../../profiler/profiler';
import { TraceSampler } from '../../profiler/trace-samples';
import { SlidingWindow } from '../../profiler/window';
import { rowsOf } from './helpers';

/** Interleaved samples of the first `rows` polls of real Bitbrains VMs, in time order per VM. */
function traceSamples(names: string[], rows: number): Sample[] {
  const per = names.map((n) => {
    const s = new TraceSampler(n);
    return rowsOf(n).slice(0, rows).map((r) => s.samples(r));
  });
  const out: Sample[] = [];
  for (let i = 0; i < rows; i++) for (const vm of per) out.push(...(vm[i] ?? []));
  return out;
}

/** The partition a keyed producer puts `resource_id` on (any stable hash does for the rule under test). */
const partitionOf = (resourceId: string, partitions: number) => createHash('sha1').update(resourceId).digest().readUInt32BE(0) % partitions;

/** Samples as a topic keyed by resource_id with `partitions` partitions delivers them: per partition, consecutive offsets. */
function positioned(samples: Sample[], partitions: number): Array<{ sample: Sample; pos: SamplePosition }> {
  const next = new Array(partitions).fill(0);
  return samples.map((sample) => {
    const p = partitionOf(sample.resource_id, partitions);
    return { sample, pos: { topic: 'ingest', partition: p, offset: String(next[p]++) } };
  });
}

const T = new Date('2026-12-03T06:00:00Z');
const byVm = (list: VmUtilisation[]) => Object.fromEntries(list.map((u) => [u.vm, u]));

function expectSameProfiles(actual: VmUtilisation[], expected: VmUtilisation[]): void {
  const a = byVm(actual);
  const e = byVm(expected);
  expect(Object.keys(a).sort()).toEqual(Object.keys(e).sort());
  for (const id of Object.keys(e)) {
    const x = a[id]!;
    const y = e[id]!;
    expect([x.name, x.vcpus, x.memory_mb, x.project, x.last_seen]).toEqual([y.name, y.vcpus, y.memory_mb, y.project, y.last_seen]);
    expect(Object.keys(x.resources).sort()).toEqual(Object.keys(y.resources).sort());
    for (const [r, u] of Object.entries(y.resources)) {
      const v = x.resources[r as keyof typeof x.resources]!;
      expect([v.window, v.samples]).toEqual([u.window, u.samples]);
      expect(v.avg).toBeCloseTo(u.avg, 9);
    }
  }
}

describe('partitioned profiler state: pure rules', () => {
  const vms = ['27', '41', '123', '265'];
  const samples = traceSamples(vms, 60);

  it('parts of 3 partitions (topic keyed by resource_id) merge into the profiles of one profiler seeing every sample', () => {
    expect(samples.length).toBeGreaterThan(1500);
    const single = new Profiler();
    single.onStored(asStored(samples, T));
    const parted = new PartitionedProfiler({}, 'c1');
    for (let p = 0; p < 3; p++) parted.load(partitionKey('ingest', p), [], -1); // announced by the consumer
    const items = positioned(samples, 3);
    // delivered in batches of 50 as the ingestor would, positions alongside
    for (let i = 0; i < items.length; i += 50) {
      const batch = items.slice(i, i + 50);
      parted.onStored(asStored(batch.map((b) => b.sample), T), batch.map((b) => b.pos));
    }
    // a VM's disk and vNIC are resources of their own: its parts really are spread over partitions
    const partsPerVm = new Map<string, number>();
    for (const vm of parted.states()) partsPerVm.set(vm.id, (partsPerVm.get(vm.id) ?? 0) + 1);
    expect(Math.max(...partsPerVm.values())).toBeGreaterThan(1);
    const merged = new Profiler();
    for (const vm of mergeParts(parted.states())) merged.adopt(vm);
    expectSameProfiles(merged.list(), single.list());
  });

  it('a new owner continues from the loaded state; samples of a partition not held are not observed (no fragment of its state made up)', () => {
    const items = positioned(samples, 1);
    const half = Math.floor(items.length / 2);
    const first = new PartitionedProfiler({}, 'old-owner');
    // before its state is loaded a partition's samples are counted, not observed
    first.onStored(asStored(items.slice(0, 10).map((b) => b.sample), T), items.slice(0, 10).map((b) => b.pos));
    expect(first.skippedUnowned).toBe(10);
    expect(first.keys()).toEqual([]);
    first.load('ingest:0', [], -1);
    first.onStored(asStored(items.slice(0, half).map((b) => b.sample), T), items.slice(0, half).map((b) => b.pos));
    const dirty = first.takeDirty('ingest:0')!;
    expect(dirty.offset).toBe(half - 1);
    // the new owner loads that state; of the messages redelivered from an older commit the observer hub
    // hands on only the samples the store did not hold, i.e. those after the old owner's last write
    const second = new PartitionedProfiler({}, 'new-owner');
    second.load('ingest:0', dirty.vms.map((v) => v.state!), dirty.offset);
    const rest = items.slice(half);
    second.onStored(asStored(rest.map((b) => b.sample), T), rest.map((b) => b.pos));
    expect(second.skippedUnowned).toBe(0);
    const single = new Profiler();
    single.onStored(asStored(samples, T));
    const view = new Profiler();
    for (const vm of mergeParts(second.states())) view.adopt(vm);
    expectSameProfiles(view.list(), single.list());
    expect(second.stats.duplicates + second.stats.out_of_order).toBe(0);
  });

  it('versioning: only a state covering a strictly higher offset replaces the stored one', () => {
    expect(replaces(undefined, 0)).toBe(true);
    expect(replaces(10, 11)).toBe(true);
    expect(replaces(10, 10)).toBe(false);
    expect(replaces(10, 9)).toBe(false);
    expect(() => replaces(1, 1.5)).toThrow(/integer/);
    expect(replaceableFilter('t:0|vm', 11)).toEqual({ _id: 't:0|vm', offset: { $lt: 11 } });
    expect(() => replaceableFilter('t:0|vm', Number.NaN)).toThrow(/integer/);
    expect(offsetNumber('9007199254740991')).toBe(9007199254740991);
    expect(() => offsetNumber('9007199254740993')).toThrow(/2\^53/);
    expect(() => offsetNumber('-1')).toThrow(/Kafka offset -1/);
  });

  it('merge keeps only the highest-priority meter of a resource, takes size/project from the most recent part, and refuses mixed VMs', () => {
    const win = (values: number[]) => SlidingWindow.from(12, values);
    // instance part: per-instance disk meter (priority 1), sizes; device part: per-device meter (priority 3)
    const inst = newVmState('vm-1', 1000);
    inst.vcpus = 4;
    inst.memoryMb = 8192;
    inst.project = 'p1';
    inst.owner[2] = 1;
    inst.tracks[2] = [{ device: 'vm-1', meter: 'disk.read.bytes', window: win([500]), lastTs: 1, lastValue: 1, accepted: 1 }];
    const dev = newVmState('vm-1', 2000);
    dev.project = 'p2';
    dev.owner[2] = 3;
    dev.tracks[2] = [
      { device: 'vm-1-vdb', meter: 'disk.device.read.bytes', window: win([50]), lastTs: 1, lastValue: 1, accepted: 1 },
      { device: 'vm-1-vda', meter: 'disk.device.read.bytes', window: win([100]), lastTs: 1, lastValue: 1, accepted: 1 },
    ];
    const m = mergeVmParts([inst, dev]);
    expect(m.tracks[2]!.map((t) => t.device)).toEqual(['vm-1-vda', 'vm-1-vdb']);
    expect([m.vcpus, m.memoryMb, m.project, m.lastSeen]).toEqual([4, 8192, 'p2', 2000]);
    expect(mergeVmParts([dev, inst]).tracks[2]!.map((t) => t.device)).toEqual(['vm-1-vda', 'vm-1-vdb']);
    // the same device in two parts (partition count changed): counted once, the most recent series
    const moved = newVmState('vm-1', 3000);
    moved.owner[2] = 3;
    moved.tracks[2] = [{ device: 'vm-1-vda', meter: 'disk.device.read.bytes', window: win([100, 300]), lastTs: 2, lastValue: 2, accepted: 2 }];
    const m2 = mergeVmParts([inst, dev, moved]);
    expect(m2.tracks[2]!.map((t) => [t.device, t.accepted])).toEqual([['vm-1-vda', 2], ['vm-1-vdb', 1]]);
    expect(mergeVmParts([moved, dev]).tracks[2]!.map((t) => [t.device, t.accepted])).toEqual([['vm-1-vda', 2], ['vm-1-vdb', 1]]);
    expect(() => mergeVmParts([inst, newVmState('vm-2', 0)])).toThrow(/different VMs/);
    expect(() => mergeVmParts([])).toThrow(/no parts/);
  });
});
