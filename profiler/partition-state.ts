import { RESOURCES } from './config';
import { newVmState, type Track, type VmState } from './profiler';

/**
 * Pure rules of the partitioned profiler state (docs/profiler.md "Many controllers"): no I/O.
 *
 * With several controllers in one Kafka consumer group each owns some partitions of the ingest topic.
 * A partition's profiler state is a function of the partition's message prefix, so a state is
 * versioned by the Kafka offset it covers: of two writers of the same partition's state (an owner
 * that lost the partition and has not noticed yet, and the new owner), the one covering the higher
 * offset holds the newer state, and an older write must never replace it (`replaces`).
 *
 * A VM's samples may sit on several partitions (the ingest topic is keyed by `resource_id`, and a
 * VM's disks and vNICs are resources of their own), so each partition holds a PART of the VM:
 * `mergeVmParts` puts the parts together exactly as one profiler seeing every sample would have them.
 */

/** The state key of a Kafka partition. */
export const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/** The state key of samples that came without a Kafka position (HTTP/UDP/TCP straight to the store) on one controller. */
export const directKey = (controllerId: string): string => `direct:${controllerId}`;

/** Id of the stored part of `vm` kept by partition `key`. */
export const vmDocId = (key: string, vm: string): string => `${key}|${vm}`;

/**
 * Whether a state covering offset `incoming` may replace the stored one covering `stored`
 * (undefined: nothing stored). Strictly newer only: the same offset is the same state.
 */
export function replaces(stored: number | undefined, incoming: number): boolean {
  if (!Number.isSafeInteger(incoming) || incoming < -1) throw new RangeError(`state offset must be an integer ≥ -1, got ${incoming}`);
  return stored === undefined || incoming > stored;
}

/**
 * `replaces` as a MongoDB filter: it matches the stored document only if a state covering `offset`
 * may replace it. Used as an upsert's filter, a newer stored state makes the upsert's insert collide
 * with the `_id` (duplicate key), so a stale writer is refused by the store itself.
 */
export function replaceableFilter(id: string, offset: number): { _id: string; offset: { $lt: number } } {
  replaces(undefined, offset); // validates the offset
  return { _id: id, offset: { $lt: offset } };
}

/** A Kafka offset (decimal string) as a number; offsets beyond 2^53 are refused rather than rounded. */
export function offsetNumber(offset: string): number {
  const n = Number(offset);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Kafka offset ${offset} is not an integer in [0, 2^53)`);
  return n;
}

/**
 * One VM out of its parts (each from one partition), the same as one profiler seeing all samples:
 * - per resource the highest-priority meter owns it (the single profiler drops a lower-priority
 *   meter's tracks when a better one appears, and shadows it after): only tracks of parts whose owner
 *   priority is the highest are kept, ordered by device so the sum is the same whatever the order of
 *   the parts; a device found in two parts counts once (the one with the latest sample);
 * - size (vCPUs, memory), project and name come from the part that saw a sample last (ties: the
 *   first part) among those that know them; last_seen is the latest.
 * The parts are not modified.
 */
export function mergeVmParts(parts: readonly VmState[]): VmState {
  if (parts.length === 0) throw new RangeError('mergeVmParts: no parts');
  const id = parts[0]!.id;
  for (const p of parts) if (p.id !== id) throw new RangeError(`mergeVmParts: parts of different VMs (${id}, ${p.id})`);
  if (parts.length === 1) return parts[0]!;
  const byRecency = [...parts].sort((a, b) => b.lastSeen - a.lastSeen);
  const vm = newVmState(id, byRecency[0]!.lastSeen);
  vm.touched = Math.max(...parts.map((p) => p.touched));
  vm.vcpus = byRecency.find((p) => Number.isFinite(p.vcpus))?.vcpus ?? NaN;
  vm.memoryMb = byRecency.find((p) => Number.isFinite(p.memoryMb))?.memoryMb ?? NaN;
  vm.project = byRecency.find((p) => p.project !== null)?.project ?? null;
  vm.name = byRecency.find((p) => p.name !== p.id)?.name ?? id;
  for (let r = 0; r < RESOURCES.length; r++) {
    const owner = Math.max(...parts.map((p) => p.owner[r]!));
    vm.owner[r] = owner;
    // one device's series lives in one partition; if two parts hold it (the topic's partition count
    // changed, or a controller restarted with samples bypassing Kafka) the most recent one counts, once
    const byDevice = new Map<string, Track>();
    for (const p of parts) {
      if (p.owner[r] !== owner) continue;
      for (const t of p.tracks[r]!) {
        const seen = byDevice.get(t.device);
        if (!seen || t.lastTs > seen.lastTs || (t.lastTs === seen.lastTs && t.accepted > seen.accepted)) byDevice.set(t.device, t);
      }
    }
    vm.tracks[r] = [...byDevice.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  }
  return vm;
}

/** Parts of many VMs grouped by VM and merged (`mergeVmParts`). */
export function mergeParts(parts: Iterable<VmState>): VmState[] {
  const byVm = new Map<string, VmState[]>();
  for (const p of parts) {
    const list = byVm.get(p.id);
    if (list) list.push(p);
    else byVm.set(p.id, [p]);
  }
  return [...byVm.values()].map(mergeVmParts);
}
