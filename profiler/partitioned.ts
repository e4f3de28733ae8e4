import type { SamplePosition, SampleObserver, StoredSample } from '../pipeline/sample';
import { METERS } from './meters';
import { directKey, offsetNumber, partitionKey } from './partition-state';
import { instanceOf, Profiler, type ProfilerOptions, type ProfilerStats, type VmState } from './profiler';

/**
 * The profiler split by Kafka partition (pure: no I/O; `cluster.ts` stores and loads the parts).
 *
 * One `Profiler` per partition this controller owns, so a partition's state can be handed over on its
 * own. Per partition it knows the highest offset observed (the version its state is written with).
 * A partition's part exists only once its state is loaded (`load`, when the consumer announces the
 * partition); samples of a partition not held are not observed (counted in `skippedUnowned`): a part
 * made up on the spot would hold a fragment of the partition's state and, written, overwrite its
 * owner's. A message redelivered after a hand-over is never counted twice without any rule here: the
 * observer hub publishes only samples the store did not hold, and the previous owner observed the
 * ones it stored. Samples without a Kafka position (HTTP/UDP/TCP straight to the store) go to this
 * controller's own `direct:<id>` part, versioned by arrival time.
 */

interface Part {
  profiler: Profiler;
  /** Highest offset observed (-1: none yet). */
  offset: number;
  /** VMs changed since the last `takeDirty`. */
  dirty: Set<string>;
}

export interface DirtyPart {
  key: string;
  /** The offset the part's state covers (its version). */
  offset: number;
  /** Changed VMs: their current part state, or undefined when the part forgot them (idle TTL, cap). */
  vms: Array<{ id: string; state: VmState | undefined }>;
}

export class PartitionedProfiler implements SampleObserver {
  readonly name = 'profiler';
  private readonly parts = new Map<string, Part>();
  /** Counters of parts handed over (so the process's counters never go down). */
  private readonly retired: ProfilerStats = new Profiler().stats;
  /** Samples of Kafka partitions this controller does not hold (not observed). */
  skippedUnowned = 0;
  private directClock = -1;

  constructor(
    readonly options: Partial<ProfilerOptions>,
    private readonly controllerId: string,
  ) {}

  onStored(samples: readonly StoredSample[], positions?: readonly (SamplePosition | undefined)[]): void {
    // consecutive samples of one partition go to its profiler together (one expiry check per run)
    let runKey: string | undefined;
    let run: StoredSample[] = [];
    let runOffset = -1;
    let runTopic: string | undefined;
    let runPartition = -1;
    const flush = () => {
      if (runKey !== undefined && run.length > 0) this.observeRun(runKey, run, runOffset);
      run = [];
      runOffset = -1;
    };
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      const pos = positions?.[i];
      let key: string;
      let offset: number;
      if (pos) {
        // consecutive samples mostly share a partition: build its key once per run
        key = runKey !== undefined && pos.partition === runPartition && pos.topic === runTopic ? runKey : partitionKey(pos.topic, pos.partition);
        runTopic = pos.topic;
        runPartition = pos.partition;
        offset = offsetNumber(pos.offset);
      } else {
        key = directKey(this.controllerId);
        // versioned by arrival time, strictly increasing within this process
        offset = this.directClock = Math.max(this.directClock + 1, Date.now());
      }
      if (key !== runKey) {
        flush();
        runKey = key;
      }
      if (pos && !this.parts.has(key)) {
        this.skippedUnowned++;
        continue;
      }
      run.push(s);
      if (offset > runOffset) runOffset = offset;
    }
    flush();
  }

  private observeRun(key: string, run: StoredSample[], offset: number): void {
    const part = this.part(key);
    part.profiler.onStored(run);
    if (offset > part.offset) part.offset = offset;
    for (const s of run) {
      const spec = METERS[s.counter_name];
      if (spec) part.dirty.add(instanceOf(s, spec.device));
    }
  }

  private part(key: string): Part {
    let p = this.parts.get(key);
    if (!p) this.parts.set(key, (p = { profiler: new Profiler(this.options), offset: -1, dirty: new Set() }));
    return p;
  }

  /** Replace partition `key`'s state by the one loaded from the store (covering `offset`). */
  load(key: string, vms: Iterable<VmState>, offset: number): void {
    this.drop(key);
    const p = this.part(key);
    for (const vm of vms) p.profiler.adopt(vm);
    p.offset = offset;
  }

  /** Forget partition `key` (handed over); returns whether it was held. */
  drop(key: string): boolean {
    const p = this.parts.get(key);
    if (!p) return false;
    for (const [k, v] of Object.entries(p.profiler.stats) as Array<[keyof ProfilerStats, number]>) this.retired[k] += v;
    this.parts.delete(key);
    return true;
  }

  /** Keys of the parts held. */
  keys(): string[] {
    return [...this.parts.keys()];
  }

  has(key: string): boolean {
    return this.parts.has(key);
  }

  /** What changed in part `key` since the last call (and forgets it: the caller writes it or calls `markDirty`). */
  takeDirty(key: string): DirtyPart | undefined {
    const p = this.parts.get(key);
    if (!p || p.dirty.size === 0) return undefined;
    const vms = [...p.dirty].map((id) => ({ id, state: p.profiler.state(id) }));
    p.dirty = new Set();
    return { key, offset: p.offset, vms };
  }

  /** A write of `vms` failed: they are written again with the next flush. */
  markDirty(key: string, vms: Iterable<string>): void {
    const p = this.parts.get(key);
    if (p) for (const id of vms) p.dirty.add(id);
  }

  /** The offset part `key` covers (-1: none). */
  offsetOf(key: string): number {
    return this.parts.get(key)?.offset ?? -1;
  }

  /** VM parts held locally (this controller's share; queries use the store's cluster-wide view). */
  *states(): IterableIterator<VmState> {
    for (const p of this.parts.values()) yield* p.profiler.states();
  }

  get size(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.profiler.size;
    return n;
  }

  /** This process's counters: the parts held plus those handed over. */
  get stats(): ProfilerStats {
    const out = { ...this.retired };
    for (const p of this.parts.values()) for (const [k, v] of Object.entries(p.profiler.stats) as Array<[keyof ProfilerStats, number]>) out[k] += v;
    return out;
  }
}
