import type { Db } from 'mongodb';
import type { Logger } from '../lib/log';
import type { PartitionListener, TopicPartition } from '../pipeline/kafka/consumer';
import type { ProfilerConfig } from './config';
import { mergeParts, partitionKey } from './partition-state';
import { PartitionedProfiler } from './partitioned';
import { Profiler, profilerOptionsFromConfig, type ProfilerOptions, type VmState } from './profiler';
import { vmStateOf } from './snapshot';
import { ProfilerStateStore } from './state-store';

/**
 * The profiler when several controllers share the ingest topic (`profiler.cluster.state: store`;
 * docs/profiler.md "Many controllers"): the I/O around the pure `PartitionedProfiler`.
 *
 * - Every `flush_interval_ms` the VMs changed in each owned partition are written to the store at the
 *   partition's offset (a stale writer is refused, see state-store.ts).
 * - On a partition gained (consumer's `assigned`, before its first batch) the controller waits until
 *   the previous owner has released it (at most `handover_timeout_ms`: a crashed owner never does),
 *   loads its state and claims it; on a partition lost (`released`, after the batches in hand are
 *   written) it writes the state, marks it released and forgets it.
 * - Queries answer from the cluster-wide view: every live VM part in the store, merged per VM. It is
 *   read incrementally (parts written since the last read, by the server's clock) at most every
 *   `view_cache_ms` and at every flush; a full read every `FULL_READ_MS` bounds anything an
 *   incremental read could miss.
 */

const FULL_READ_MS = 60_000;
/** Overlap of incremental reads: a part written while the previous read ran is read again. */
const READ_OVERLAP_MS = 5_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ClusterCounters {
  flushes: number;
  parts_written: number;
  stale_writes: number;
  flush_failures: number;
  partitions_loaded: number;
  partitions_released: number;
  handover_timeouts: number;
  handover_wait_ms: number;
  unreadable_parts: number;
}

export class ClusterProfiler implements PartitionListener {
  readonly partitioned: PartitionedProfiler;
  readonly store: ProfilerStateStore;
  readonly counters: ClusterCounters = {
    flushes: 0, parts_written: 0, stale_writes: 0, flush_failures: 0, partitions_loaded: 0,
    partitions_released: 0, handover_timeouts: 0, handover_wait_ms: 0, unreadable_parts: 0,
  };
  /** The cluster-wide view, refreshed in place (modules holding it see it change). */
  readonly view: Profiler;
  private readonly options: ProfilerOptions;
  private readonly cluster: ProfilerConfig['cluster'];
  /** Flushes, loads and releases one at a time. */
  private io: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly viewParts = new Map<string, { expiresAt: number; state: VmState }>();
  private viewReadAt = 0;
  private fullReadAt = 0;
  private since: Date | undefined;
  private refreshing: Promise<void> | undefined;
  private abandoned = false;

  constructor(
    db: Db,
    config: ProfilerConfig,
    readonly controllerId: string,
    private readonly log?: Logger,
  ) {
    this.options = profilerOptionsFromConfig(config);
    this.cluster = config.cluster;
    this.partitioned = new PartitionedProfiler(this.options, controllerId);
    this.store = new ProfilerStateStore(db, config.cluster.collection, controllerId, this.options.idleTtlMs);
    this.view = new Profiler(this.options);
  }

  async start(): Promise<void> {
    await this.store.ensureIndexes();
    this.timer = setInterval(() => {
      this.flush()
        .then(() => this.refresh())
        .catch((err) => this.log?.warn({ err: (err as Error).message }, 'profiler state flush failed'));
    }, this.cluster.flush_interval_ms);
    this.timer.unref();
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    if (this.abandoned) return Promise.reject(new Error('profiler state abandoned (crash simulated): nothing more is written'));
    const run = this.io.then(work, work);
    this.io = run.catch(() => undefined);
    return run;
  }

  /** Write what changed in every part held. */
  flush(): Promise<void> {
    return this.serial(async () => {
      for (const key of this.partitioned.keys()) await this.writePart(key, false);
      this.counters.flushes++;
    });
  }

  private async writePart(key: string, released: boolean): Promise<void> {
    const dirty = this.partitioned.takeDirty(key);
    if (!dirty && !released) return;
    const offset = dirty?.offset ?? this.partitioned.offsetOf(key);
    try {
      const out = await this.store.write(key, offset, dirty?.vms ?? [], released);
      this.counters.parts_written += out.written;
      if (out.stale > 0) {
        // a newer owner wrote this partition: take its state rather than overwrite it with ours
        this.counters.stale_writes += out.stale;
        this.log?.warn({ partition: key, stale: out.stale }, 'profiler state of this partition is newer in the store (another controller owns it): reloading it');
        if (!released) await this.loadPart(key);
      }
    } catch (err) {
      this.counters.flush_failures++;
      if (dirty) this.partitioned.markDirty(key, dirty.vms.map((v) => v.id));
      throw err;
    }
  }

  private async loadPart(key: string): Promise<void> {
    const { offset, vms, unreadable } = await this.store.load(key);
    this.counters.unreadable_parts += unreadable.length;
    if (unreadable.length) this.log?.warn({ partition: key, unreadable }, 'profiler state documents that are not VM snapshots were left out');
    this.partitioned.load(key, vms.map((v) => vmStateOf(v, this.options)), offset);
  }

  /** Consumer hook: a partition gained. Wait for the previous owner's release (bounded), load, claim. */
  assigned(tp: TopicPartition): Promise<void> {
    const key = partitionKey(tp.topic, tp.partition);
    return this.serial(async () => {
      const start = Date.now();
      for (;;) {
        const m = await this.store.marker(key);
        if (!m || m.released || m.owner === this.controllerId) break;
        if (Date.now() - start >= this.cluster.handover_timeout_ms) {
          this.counters.handover_timeouts++;
          this.log?.warn({ partition: key, previous: m.owner, waitedMs: Date.now() - start }, 'previous owner did not hand the profiler state over in time (crashed?): taking the stored state as it is');
          break;
        }
        await sleep(100);
      }
      this.counters.handover_wait_ms += Date.now() - start;
      await this.loadPart(key);
      await this.store.claim(key, this.partitioned.offsetOf(key));
      this.counters.partitions_loaded++;
      this.log?.info({ partition: key, offset: this.partitioned.offsetOf(key) }, 'profiler state of partition loaded');
    });
  }

  /** Consumer hook: partitions lost (their batches in hand are written). Write, mark released, forget. */
  released(tps: TopicPartition[]): Promise<void> {
    return this.serial(async () => {
      for (const tp of tps) {
        const key = partitionKey(tp.topic, tp.partition);
        if (!this.partitioned.has(key)) continue;
        await this.writePart(key, true);
        this.partitioned.drop(key);
        this.counters.partitions_released++;
      }
    });
  }

  /** Re-read the view if it is older than `view_cache_ms`; returns it. */
  async current(): Promise<Profiler> {
    if (Date.now() - this.viewReadAt >= this.cluster.view_cache_ms) await this.refresh();
    return this.view;
  }

  /** Read what changed in the store (everything every FULL_READ_MS) and rebuild the merged view. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readView().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readView(): Promise<void> {
    const started = Date.now();
    const full = started - this.fullReadAt >= FULL_READ_MS || this.since === undefined;
    const since = full ? undefined : new Date(this.since!.getTime() - READ_OVERLAP_MS);
    const { parts, unreadable, newest } = await this.store.readChanged(since);
    if (full) this.viewParts.clear();
    for (const p of parts) {
      if (p.state) this.viewParts.set(p.id, { expiresAt: p.expiresAt.getTime(), state: vmStateOf(p.state, this.options) });
      else this.viewParts.delete(p.id);
    }
    if (newest && (!this.since || newest > this.since)) this.since = newest;
    if (full) this.fullReadAt = started;
    this.counters.unreadable_parts += unreadable.length;
    const now = Date.now();
    const live: VmState[] = [];
    let changed = full || parts.length > 0;
    for (const [id, p] of this.viewParts) {
      if (p.expiresAt > now) live.push(p.state);
      else {
        this.viewParts.delete(id);
        changed = true;
      }
    }
    // the merged view is rebuilt only when a part came, went or expired
    if (changed) this.view.replaceAll(mergeParts(live));
    this.viewReadAt = started;
  }

  /**
   * Stop without writing anything (what a crash amounts to, for tests and with the consumer's kill()):
   * the state since the last flush is lost and the partitions are never marked released.
   */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.abandoned = true;
    for (const key of this.partitioned.keys()) this.partitioned.drop(key);
  }

  /** Stop the timer and write everything held (the partitions still held are marked released). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.serial(async () => {
      for (const key of this.partitioned.keys()) {
        await this.writePart(key, true);
        this.partitioned.drop(key);
      }
    });
  }
}
