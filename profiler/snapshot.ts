import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { RESOURCES } from './config';
import { newVmState, Profiler, type ProfilerOptions, type ProfilerStats, type VmState } from './profiler';
import { SlidingWindow } from './window';

/**
 * Profiler state that survives a restart: every VM's size, per resource the owning meter and per
 * device the window values (oldest first) plus the counter baseline, so a restored profiler reports
 * the same averages and continues computing rates from the last counter value.
 *
 * Pure functions (`snapshotOf`, `restoreProfiler`, `parseSnapshot`) plus a thin file wrapper
 * (`saveSnapshot`, `loadSnapshot`; the write is atomic: temp file + rename).
 */

export const SNAPSHOT_VERSION = 1;

// JSON has no NaN/±Infinity: "unknown" numbers are stored as null.
const num = z.number().nullable();

const trackSchema = z.strictObject({
  device: z.string(),
  meter: z.string(),
  capacity: z.number().int().positive(),
  values: z.array(z.number()),
  last_ts: num,
  last_value: num,
  accepted: z.number().int().nonnegative(),
});

const vmSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string(),
  vcpus: num,
  memory_mb: num,
  /** Absent in snapshots written before projects were tracked. */
  project: z.string().nullable().optional(),
  last_seen: num,
  owner: z.array(z.number()).length(RESOURCES.length),
  tracks: z.array(z.array(trackSchema)).length(RESOURCES.length),
});

export const snapshotSchema = z.strictObject({
  version: z.literal(SNAPSHOT_VERSION),
  saved_at: z.string(),
  resources: z.array(z.string()),
  stats: z.record(z.string(), z.number()),
  vms: z.array(vmSchema),
});

export type ProfilerSnapshot = z.infer<typeof snapshotSchema>;

const toNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export type VmSnapshot = z.infer<typeof vmSchema>;
export const vmSnapshotSchema = vmSchema;

/** Serialisable state of a profiler. */
export function snapshotOf(profiler: Profiler, now = new Date()): ProfilerSnapshot {
  const vms: ProfilerSnapshot['vms'] = [];
  for (const vm of profiler.states()) vms.push(vmSnapshotOf(vm));
  return { version: SNAPSHOT_VERSION, saved_at: now.toISOString(), resources: [...RESOURCES], stats: { ...profiler.stats }, vms };
}

/** Serialisable state of one VM. */
export function vmSnapshotOf(vm: VmState): VmSnapshot {
  return {
    id: vm.id,
    name: vm.name,
    vcpus: toNull(vm.vcpus),
    memory_mb: toNull(vm.memoryMb),
    project: vm.project,
    last_seen: toNull(vm.lastSeen),
    owner: [...vm.owner],
    tracks: vm.tracks.map((tracks) =>
      tracks.map((t) => ({
        device: t.device,
        meter: t.meter,
        capacity: t.window.capacity,
        values: t.window.values(),
        last_ts: toNull(t.lastTs),
        last_value: toNull(t.lastValue),
        accepted: t.accepted,
      })),
    ),
  };
}

/**
 * A new profiler holding the snapshot's state. Windows are re-sized to the new options' lengths
 * (keeping the most recent values) so a configuration change of `window` applies on restart.
 */
export function restoreProfiler(snapshot: ProfilerSnapshot, options: Partial<ProfilerOptions> = {}): Profiler {
  const profiler = new Profiler(options);
  const o = profiler.options;
  if (snapshot.resources.join(',') !== RESOURCES.join(',')) {
    throw new Error(`profiler snapshot tracks resources [${snapshot.resources.join(', ')}], this version tracks [${RESOURCES.join(', ')}]`);
  }
  for (const v of snapshot.vms) profiler.adopt(vmStateOf(v, o));
  profiler.restoreStats(snapshot.stats as Partial<ProfilerStats>);
  return profiler;
}

/** A VM's state from its snapshot; windows re-sized to the options' lengths (most recent values kept). */
export function vmStateOf(v: VmSnapshot, o: Pick<ProfilerOptions, 'window' | 'windows'>): VmState {
  const vm = newVmState(v.id, v.last_seen ?? -Infinity);
  vm.name = v.name;
  vm.vcpus = v.vcpus ?? NaN;
  vm.memoryMb = v.memory_mb ?? NaN;
  vm.project = v.project ?? null;
  vm.owner = [...v.owner];
  vm.tracks = v.tracks.map((tracks) =>
    tracks.map((t) => ({
      device: t.device,
      meter: t.meter,
      window: SlidingWindow.from(o.windows[t.meter] ?? o.window, t.values),
      lastTs: t.last_ts ?? -Infinity,
      lastValue: t.last_value ?? NaN,
      accepted: t.accepted,
    })),
  );
  return vm;
}

/** Validates parsed JSON as a snapshot; errors name the file and the offending field. */
export function parseSnapshot(json: unknown, file = 'snapshot'): ProfilerSnapshot {
  const result = snapshotSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${file}: not a profiler snapshot: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data;
}

/** Writes the profiler's state to `file` atomically. */
export async function saveSnapshot(file: string, profiler: Profiler): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(tmp, JSON.stringify(snapshotOf(profiler)));
  await rename(tmp, file);
}

/** Reads and validates a snapshot file. */
export async function loadSnapshot(file: string): Promise<ProfilerSnapshot> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read profiler snapshot: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: profiler snapshot is not valid JSON: ${(err as Error).message}`);
  }
  return parseSnapshot(json, file);
}
