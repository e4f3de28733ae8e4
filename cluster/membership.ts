import type { Collection, Db } from 'mongodb';
import type { Logger } from 'pino';
import { Periodic } from '../lib/periodic';

export const MEMBERS_COLLECTION = 'cluster_controllers';

export interface MemberDoc {
  _id: string;
  instance: string;
  address: string;
  host: string;
  pid: number;
  started_at: Date;
  /** Written with the store's clock ($currentDate): liveness is judged on one clock. */
  heartbeat_at: Date;
  /** The Kafka partitions this controller's consumer owned at its heartbeat; null: it runs no Kafka consumer. */
  partitions?: OwnedPartition[] | null;
}

/** A Kafka partition a controller's consumer owns. */
export interface OwnedPartition {
  topic: string;
  partition: number;
}

export interface MemberView {
  id: string;
  address: string;
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  /** Milliseconds since the last heartbeat, by the store's clock. */
  heartbeat_age_ms: number;
  alive: boolean;
  /** The Kafka partitions its consumer owned at that heartbeat (topic, then partition order); null: no Kafka consumer. */
  partitions: OwnedPartition[] | null;
}

/** Partitions in topic, then partition order. Pure. */
export function sortPartitions(tps: readonly OwnedPartition[]): OwnedPartition[] {
  return tps.map((tp) => ({ topic: tp.topic, partition: tp.partition })).sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** Liveness by the store's clock: `now` is the store's time of this controller's own latest heartbeat. Pure. */
export function memberViews(docs: readonly MemberDoc[], now: Date, memberTtlMs: number): MemberView[] {
  return docs
    .map((d) => {
      const age = Math.max(0, now.getTime() - d.heartbeat_at.getTime());
      return { id: d._id, address: d.address, host: d.host, pid: d.pid, started_at: d.started_at.toISOString(), heartbeat_at: d.heartbeat_at.toISOString(), heartbeat_age_ms: age, alive: age <= memberTtlMs, partitions: d.partitions ? sortPartitions(d.partitions) : null };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * This controller's entry in `cluster_controllers`: written at start, refreshed every
 * heartbeatIntervalMs, deleted on shutdown. Other controllers (and `metering controllers`) list it.
 * A controller gone for ten member TTLs is removed by the periodic heartbeat (at most once per member
 * TTL). Listing the members and the readiness check only read: a read never writes.
 */
export class Membership {
  readonly coll: Collection<MemberDoc>;
  private beats?: Periodic;
  private readonly startedAt = new Date();
  private partitionsOf?: () => OwnedPartition[];
  /** The last heartbeat written: the store's time of it and this process's monotonic clock then. */
  private last?: { store: Date; mono: number };
  private lastPrune = -Infinity;
  failures = 0;

  constructor(
    db: Db,
    private readonly me: { id: string; instance: string; address: string; host: string; pid: number },
    private readonly opts: { heartbeatIntervalMs: number; memberTtlMs: number; log: Logger },
  ) {
    this.coll = db.collection<MemberDoc>(MEMBERS_COLLECTION);
  }

  /** Report the Kafka partitions this controller's consumer owns with every heartbeat from now on. */
  reportPartitions(owned: () => OwnedPartition[]): void {
    this.partitionsOf = owned;
  }

  /** Write the heartbeat (with the partitions owned now); returns the store's time of it. */
  async beat(): Promise<Date> {
    const { id, ...rest } = this.me;
    const partitions = this.partitionsOf ? sortPartitions(this.partitionsOf()) : null;
    const doc = await this.coll.findOneAndUpdate(
      { _id: id },
      { $set: { ...rest, started_at: this.startedAt, partitions }, $currentDate: { heartbeat_at: true } },
      { upsert: true, returnDocument: 'after' },
    );
    const at = doc?.heartbeat_at ?? new Date();
    this.last = { store: at, mono: performance.now() };
    return at;
  }

  /**
   * The store's time now, without asking the store: the store's time of the last heartbeat plus the
   * time elapsed since on this process's monotonic clock (undefined before the first heartbeat).
   */
  storeNow(): Date | undefined {
    return this.last ? new Date(this.last.store.getTime() + Math.round(performance.now() - this.last.mono)) : undefined;
  }

  /** The periodic heartbeat: write it, then (at most once per member TTL) remove controllers gone for ten TTLs. */
  async heartbeat(): Promise<void> {
    const now = await this.beat();
    if (this.last!.mono - this.lastPrune < this.opts.memberTtlMs) return;
    this.lastPrune = this.last!.mono;
    await this.coll.deleteMany({ heartbeat_at: { $lt: new Date(now.getTime() - 10 * this.opts.memberTtlMs) } });
  }

  /**
   * Readiness (reads only): this controller's entry is in the store, as this process wrote it, and its
   * last heartbeat was written less than a member TTL ago; else an error saying which.
   */
  async ready(): Promise<void> {
    const mine = await this.coll.findOne({ _id: this.me.id }, { projection: { instance: 1 } });
    if (!mine) throw new Error(`this controller (${this.me.id}) is not registered in ${MEMBERS_COLLECTION}: the others cannot see it`);
    if (mine.instance !== this.me.instance) throw new Error(`another process (${mine.instance}) registered this controller id (${this.me.id}) after this one`);
    const age = this.last ? performance.now() - this.last.mono : Infinity;
    if (age > this.opts.memberTtlMs) throw new Error(`no heartbeat written for ${Number.isFinite(age) ? `${Math.round(age)} ms` : 'ever'} (cluster.memberTtlMs ${this.opts.memberTtlMs}): the others see this controller as gone`);
  }

  async start(): Promise<void> {
    const existing = await this.coll.findOne({ _id: this.me.id });
    if (existing && existing.instance !== this.me.instance) {
      this.opts.log.warn({ id: this.me.id, previous: { host: existing.host, pid: existing.pid } }, 'cluster: another process registered this controller id before (a restart, or two controllers with the same cluster.id)');
    }
    await this.heartbeat();
    // one heartbeat at a time: a slow store does not pile them up
    this.beats = new Periodic(() => this.heartbeat(), this.opts.heartbeatIntervalMs, (err) => {
      this.failures++;
      this.opts.log.warn({ err: err.message }, 'cluster: heartbeat not written');
    }).start();
  }

  /**
   * Every registered controller with its liveness, judged by the store's clock (`storeNow`: the last
   * heartbeat's store time moved on by the time elapsed here). Reads only; before this controller's
   * first heartbeat it has no store time and says so.
   */
  async list(): Promise<{ now: Date; members: MemberView[] }> {
    const docs = await this.coll.find({}).toArray();
    const now = this.storeNow();
    if (!now) throw new Error('cluster: this controller has not written its first heartbeat yet (no store time to judge liveness by)');
    return { now, members: memberViews(docs, now, this.opts.memberTtlMs) };
  }

  async close(): Promise<void> {
    await this.beats?.close();
    await this.coll.deleteOne({ _id: this.me.id, instance: this.me.instance }).catch(() => undefined);
  }
}
