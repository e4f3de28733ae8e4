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
 * A controller gone for ten member TTLs is removed by whoever lists the members.
 */
export class Membership {
  readonly coll: Collection<MemberDoc>;
  private beats?: Periodic;
  private readonly startedAt = new Date();
  private partitionsOf?: () => OwnedPartition[];
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
    return doc?.heartbeat_at ?? new Date();
  }

  async start(): Promise<void> {
    const existing = await this.coll.findOne({ _id: this.me.id });
    if (existing && existing.instance !== this.me.instance) {
      this.opts.log.warn({ id: this.me.id, previous: { host: existing.host, pid: existing.pid } }, 'cluster: another process registered this controller id before (a restart, or two controllers with the same cluster.id)');
    }
    await this.beat();
    // one heartbeat at a time: a slow store does not pile them up
    this.beats = new Periodic(() => this.beat(), this.opts.heartbeatIntervalMs, (err) => {
      this.failures++;
      this.opts.log.warn({ err: err.message }, 'cluster: heartbeat not written');
    }).start();
  }

  /** Every registered controller with its liveness (by the store's clock). */
  async list(): Promise<{ now: Date; members: MemberView[] }> {
    const now = await this.beat();
    await this.coll.deleteMany({ heartbeat_at: { $lt: new Date(now.getTime() - 10 * this.opts.memberTtlMs) } });
    return { now, members: memberViews(await this.coll.find({}).toArray(), now, this.opts.memberTtlMs) };
  }

  async close(): Promise<void> {
    await this.beats?.close();
    await this.coll.deleteOne({ _id: this.me.id, instance: this.me.instance }).catch(() => undefined);
  }
}
