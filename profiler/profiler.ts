import type { SampleObserver, StoredSample } from '../pipeline/sample';
import { RESOURCES, type ProfilerConfig, type Resource } from './config';
import { METERS, type MeterSpec } from './meters';
import { SlidingWindow } from './window';

/**
 * The resource profiler (paper §III-B). It sits on the ingestion interception hook (`SampleObserver`)
 * and never queries the store. Per VM and resource it keeps a sliding window over the last n
 * utilisation values; the window's moving average is the VM's current utilisation.
 *
 * Per sample the work is O(1): one meter lookup, one VM map lookup, a scan of the VM's (1–3) device
 * tracks for that resource and one window push. Memory is bounded: VMs that sent nothing for
 * `idleTtlMs` (arrival time, `recorded_at`) expire, and at most `maxVms` VMs are tracked (the least
 * recently seen is evicted first).
 *
 * Ordering rules (per VM, resource and device): a sample whose timestamp equals the last accepted one
 * is a duplicate and one older than it is out of order; both are dropped and counted. A cumulative
 * counter that goes down was reset (VM reboot / migration): the new value is taken as the amount since
 * the reset, i.e. the delta over the interval. A counter's first sample, and the first after a gap
 * longer than `maxRateGapMs`, only sets the baseline (no value).
 */

export interface ProfilerOptions {
  /** Default window length n. */
  window: number;
  /** Per-meter window lengths. */
  windows: Readonly<Record<string, number>>;
  /** Forget a VM after this long without samples (arrival time); Infinity disables expiry. */
  idleTtlMs: number;
  /** Most VMs tracked at once. */
  maxVms: number;
  /** Counter samples further apart than this give no rate; the counter is re-based. */
  maxRateGapMs: number;
}

export const DEFAULT_PROFILER_OPTIONS: ProfilerOptions = {
  window: 12,
  windows: {},
  idleTtlMs: 3_600_000,
  maxVms: 20_000,
  maxRateGapMs: 21_600_000,
};

export function profilerOptionsFromConfig(c: ProfilerConfig): ProfilerOptions {
  return {
    window: c.window,
    windows: c.windows,
    idleTtlMs: c.idle_ttl_s * 1000,
    maxVms: c.max_vms,
    maxRateGapMs: c.max_rate_gap_s * 1000,
  };
}

/** Counters of what the profiler did with the samples it saw. */
export interface ProfilerStats {
  /** Samples handed to the profiler. */
  received: number;
  /** Samples that produced a utilisation value (pushed into a window). */
  accepted: number;
  /** Size samples (`vcpus`, `memory`) that updated a VM's size. */
  sized: number;
  /** Counter samples that only set a baseline (first sample, or first after a long gap). */
  baselines: number;
  /** Samples of meters the profiler does not use. */
  ignored: number;
  /** Samples with a non-finite volume or invalid timestamp. */
  invalid: number;
  /** Same timestamp as the last accepted sample of that VM/resource/device. */
  duplicates: number;
  /** Older than the last accepted sample of that VM/resource/device. */
  out_of_order: number;
  /** A higher-priority meter owns the resource (e.g. `cpu` while `cpu_util` is reported). */
  shadowed: number;
  /** Cumulative counters that went down. */
  resets: number;
  /** Counter intervals longer than maxRateGapMs (re-based, no value). */
  gaps: number;
  /** Samples that needed the VM's vCPUs or memory size before either was known. */
  unsized: number;
  /** VMs forgotten after idleTtlMs without samples. */
  expired: number;
  /** VMs evicted because maxVms was reached. */
  evicted: number;
}

const emptyStats = (): ProfilerStats => ({
  received: 0,
  accepted: 0,
  sized: 0,
  baselines: 0,
  ignored: 0,
  invalid: 0,
  duplicates: 0,
  out_of_order: 0,
  shadowed: 0,
  resets: 0,
  gaps: 0,
  unsized: 0,
  expired: 0,
  evicted: 0,
});

/** One device's (or the instance's own) series for one resource. */
export interface Track {
  device: string;
  meter: string;
  window: SlidingWindow;
  /** Timestamp (ms) of the last accepted sample; -Infinity before the first. */
  lastTs: number;
  /** Last counter value for cumulative meters; NaN when no baseline. */
  lastValue: number;
  /** Values pushed into the window over the track's life. */
  accepted: number;
}

export interface VmState {
  id: string;
  name: string;
  /** vCPUs; NaN until known. */
  vcpus: number;
  /** Memory size in MiB; NaN until known. */
  memoryMb: number;
  /** Keystone project the VM belongs to (the samples' `project_id`; the latest non-null one wins). */
  project: string | null;
  /** Arrival time (ms) of the last sample. */
  lastSeen: number;
  /** Arrival time (ms) of the last LRU reordering. */
  touched: number;
  /** Priority of the meter owning each resource (0 = none yet). */
  owner: number[];
  /** Tracks per resource (index = RESOURCE_INDEX). */
  tracks: Track[][];
}

/** A VM's utilisation of one resource: moving average over `window` values, `samples` values accepted. */
export interface ResourceUtilisation {
  avg: number;
  window: number;
  samples: number;
}

export interface VmUtilisation {
  vm: string;
  name: string;
  vcpus: number | null;
  memory_mb: number | null;
  /** Keystone project of the VM (from the samples' `project_id`), null when no sample named one. */
  project: string | null;
  last_seen: string;
  resources: Partial<Record<Resource, ResourceUtilisation>>;
}

// Matches the instance uuid inside device resource ids (`<uuid>-vda`, `instance-0000001b-<uuid>-tap…`).
const UUID_IN_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** The instance a sample belongs to: `resource_metadata.instance_id`, else the uuid inside a device id. */
export function instanceOf(sample: Pick<StoredSample, 'resource_id' | 'resource_metadata'>, device: boolean): string {
  if (!device) return sample.resource_id;
  const iid = sample.resource_metadata?.instance_id;
  if (typeof iid === 'string' && iid !== '') return iid;
  const match = UUID_IN_ID.exec(sample.resource_id);
  return match ? match[0] : sample.resource_id;
}

export class Profiler implements SampleObserver {
  readonly name = 'profiler';
  readonly options: ProfilerOptions;
  readonly stats: ProfilerStats = emptyStats();
  /** Insertion order = least recently touched first (LRU for expiry and eviction). */
  private readonly vms = new Map<string, VmState>();
  private readonly touchEveryMs: number;
  /** Latest arrival time seen (ms). */
  private arrivalClock = -Infinity;

  constructor(options: Partial<ProfilerOptions> = {}) {
    this.options = { ...DEFAULT_PROFILER_OPTIONS, ...options };
    const o = this.options;
    if (!Number.isInteger(o.window) || o.window < 1) throw new RangeError(`profiler window must be a positive integer, got ${o.window}`);
    if (!Number.isInteger(o.maxVms) || o.maxVms < 1) throw new RangeError(`profiler maxVms must be a positive integer, got ${o.maxVms}`);
    if (!(o.idleTtlMs > 0)) throw new RangeError(`profiler idleTtlMs must be positive, got ${o.idleTtlMs}`);
    // Reorder a VM in the LRU map at most every ttl/8 of arrival time: O(1) and cheap on the hot path.
    this.touchEveryMs = Number.isFinite(o.idleTtlMs) ? o.idleTtlMs / 8 : Infinity;
  }

  /** The interception hook: called by ingestion with every batch it stored. */
  onStored(samples: readonly StoredSample[]): void {
    for (let i = 0; i < samples.length; i++) this.observe(samples[i]!);
    if (Number.isFinite(this.options.idleTtlMs)) this.expireIdle(this.arrivalClock);
  }

  /** Processes one sample (O(1)). */
  observe(s: StoredSample): void {
    const st = this.stats;
    st.received++;
    const spec: MeterSpec | undefined = METERS[s.counter_name];
    if (spec === undefined) {
      st.ignored++;
      return;
    }
    const ts = s.timestamp.getTime();
    const v = s.counter_volume;
    if (!Number.isFinite(ts) || typeof v !== 'number' || !Number.isFinite(v)) {
      st.invalid++;
      return;
    }
    const arrival = s.recorded_at ? s.recorded_at.getTime() : ts;
    if (arrival > this.arrivalClock) this.arrivalClock = arrival;
    const vm = this.vmFor(instanceOf(s, spec.device), arrival);
    if (typeof s.project_id === 'string' && s.project_id !== '' && s.project_id !== vm.project) vm.project = s.project_id;
    this.readSize(vm, s.resource_metadata, spec.device);

    if (spec.kind === 'vcpus') {
      if (v > 0) vm.vcpus = v;
      st.sized++;
      return;
    }
    if (spec.kind === 'memory_mb') {
      if (v > 0) vm.memoryMb = v;
      st.sized++;
      return;
    }

    const r = spec.resource;
    const owner = vm.owner[r]!;
    if (spec.priority < owner) {
      st.shadowed++;
      return;
    }
    if (spec.priority > owner) {
      // A better source for this resource appeared: it takes over and older tracks are dropped.
      vm.owner[r] = spec.priority;
      vm.tracks[r] = [];
    }
    const tracks = vm.tracks[r]!;
    let track: Track | undefined;
    for (let i = 0; i < tracks.length; i++) {
      if (tracks[i]!.device === s.resource_id) {
        track = tracks[i];
        break;
      }
    }
    if (track === undefined) {
      track = {
        device: s.resource_id,
        meter: s.counter_name,
        window: new SlidingWindow(this.options.windows[s.counter_name] ?? this.options.window),
        lastTs: -Infinity,
        lastValue: NaN,
        accepted: 0,
      };
      tracks.push(track);
    }
    if (ts <= track.lastTs) {
      if (ts === track.lastTs) st.duplicates++;
      else st.out_of_order++;
      return;
    }

    let value: number;
    switch (spec.kind) {
      case 'pct':
      case 'gauge':
        value = v;
        break;
      case 'mib':
        if (!(vm.memoryMb > 0)) {
          st.unsized++;
          return;
        }
        value = (v / vm.memoryMb) * 100;
        break;
      default: {
        // Cumulative counter → rate between consecutive samples.
        const last = track.lastValue;
        const dtMs = ts - track.lastTs;
        track.lastValue = v;
        track.lastTs = ts;
        if (Number.isNaN(last)) {
          st.baselines++;
          return;
        }
        if (dtMs > this.options.maxRateGapMs) {
          st.gaps++;
          return;
        }
        let delta = v - last;
        if (delta < 0) {
          st.resets++;
          delta = v;
        }
        const rate = delta / (dtMs / 1000);
        if (spec.kind === 'cpu_ns') {
          if (!(vm.vcpus > 0)) {
            st.unsized++;
            return;
          }
          value = (rate / (1e9 * vm.vcpus)) * 100;
        } else {
          value = rate;
        }
        track.window.push(value);
        track.accepted++;
        st.accepted++;
        return;
      }
    }
    track.lastTs = ts;
    track.window.push(value);
    track.accepted++;
    st.accepted++;
  }

  /** Forgets VMs whose last sample arrived before `now - idleTtlMs`. Returns how many expired. */
  expireIdle(now: number): number {
    const cutoff = now - this.options.idleTtlMs;
    let n = 0;
    for (const [id, vm] of this.vms) {
      if (vm.lastSeen >= cutoff) {
        // Map order is by last touch, which lags lastSeen by at most ttl/8; stop at the first live VM.
        if (vm.touched >= cutoff) break;
        continue;
      }
      this.vms.delete(id);
      n++;
    }
    this.stats.expired += n;
    return n;
  }

  get size(): number {
    return this.vms.size;
  }

  /** Tracked VMs (live view for queues; do not mutate). */
  states(): IterableIterator<VmState> {
    return this.vms.values();
  }

  state(vm: string): VmState | undefined {
    return this.vms.get(vm);
  }

  /** Current utilisation of one VM. */
  utilisation(vm: string): VmUtilisation | undefined {
    const st = this.vms.get(vm);
    return st === undefined ? undefined : describe(st);
  }

  /** Current utilisation of every tracked VM. */
  list(): VmUtilisation[] {
    return [...this.vms.values()].map(describe);
  }

  // --- internal -----------------------------------------------------------------------------------

  private vmFor(id: string, arrival: number): VmState {
    let vm = this.vms.get(id);
    if (vm === undefined) {
      if (this.vms.size >= this.options.maxVms) {
        const oldest = this.vms.keys().next().value as string;
        this.vms.delete(oldest);
        this.stats.evicted++;
      }
      vm = newVmState(id, arrival);
      this.vms.set(id, vm);
      return vm;
    }
    if (arrival > vm.lastSeen) vm.lastSeen = arrival;
    if (arrival - vm.touched > this.touchEveryMs) {
      this.vms.delete(id);
      this.vms.set(id, vm);
      vm.touched = arrival;
    }
    return vm;
  }

  private readSize(vm: VmState, md: Record<string, unknown> | undefined | null, device: boolean): void {
    if (md == null) return;
    const vcpus = md.vcpus;
    const mem = md.memory_mb;
    if (typeof vcpus === 'number' && vcpus > 0) vm.vcpus = vcpus;
    if (typeof mem === 'number' && mem > 0) vm.memoryMb = mem;
    if (typeof vcpus !== 'number' || typeof mem !== 'number') {
      const flavor = md.flavor as Record<string, unknown> | undefined;
      if (flavor !== null && typeof flavor === 'object') {
        if (typeof vcpus !== 'number' && typeof flavor.vcpus === 'number' && flavor.vcpus > 0) vm.vcpus = flavor.vcpus;
        if (typeof mem !== 'number' && typeof flavor.ram === 'number' && flavor.ram > 0) vm.memoryMb = flavor.ram;
      }
    }
    if (!device && vm.name === vm.id && typeof md.display_name === 'string') vm.name = md.display_name;
  }

  // --- snapshot support (see snapshot.ts) ---------------------------------------------------------

  /** Internal: inserts a restored VM state (used by snapshot.ts). */
  adopt(vm: VmState): void {
    this.vms.set(vm.id, vm);
    if (vm.lastSeen > this.arrivalClock) this.arrivalClock = vm.lastSeen;
  }

  /** Internal: replaces every VM by `vms` (the cluster-wide view of profiler/cluster.ts, refreshed in place). */
  replaceAll(vms: Iterable<VmState>): void {
    this.vms.clear();
    this.arrivalClock = -Infinity;
    for (const vm of vms) this.adopt(vm);
  }

  /** Internal: restores counters (used by snapshot.ts). */
  restoreStats(stats: Partial<ProfilerStats>): void {
    Object.assign(this.stats, stats);
  }
}

export function newVmState(id: string, arrival: number): VmState {
  return {
    id,
    name: id,
    vcpus: NaN,
    memoryMb: NaN,
    project: null,
    lastSeen: arrival,
    touched: arrival,
    owner: RESOURCES.map(() => 0),
    tracks: RESOURCES.map(() => []),
  };
}

/** Utilisation of resource index `r` of a VM: sum over its device tracks of the moving averages; NaN when no value yet. */
export function resourceAvg(vm: VmState, r: number): number {
  const tracks = vm.tracks[r]!;
  let sum = 0;
  let any = false;
  for (let i = 0; i < tracks.length; i++) {
    const w = tracks[i]!.window;
    if (w.count > 0) {
      sum += w.mean;
      any = true;
    }
  }
  return any ? sum : NaN;
}

function describe(vm: VmState): VmUtilisation {
  const resources: Partial<Record<Resource, ResourceUtilisation>> = {};
  RESOURCES.forEach((name, r) => {
    const tracks = vm.tracks[r]!;
    let window = 0;
    let samples = 0;
    for (const t of tracks) {
      window = Math.max(window, t.window.count);
      samples += t.accepted;
    }
    if (samples > 0) resources[name] = { avg: resourceAvg(vm, r), window, samples };
  });
  return {
    vm: vm.id,
    name: vm.name,
    vcpus: Number.isFinite(vm.vcpus) ? vm.vcpus : null,
    memory_mb: Number.isFinite(vm.memoryMb) ? vm.memoryMb : null,
    project: vm.project,
    last_seen: Number.isFinite(vm.lastSeen) ? new Date(vm.lastSeen).toISOString() : '',
    resources,
  };
}
