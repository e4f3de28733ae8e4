import type { Document, MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import type { ScalerConfig } from './config';
import type { DecisionRepository } from './decisions';
import type { Decision } from './policy';
import { seedList, type Provisioner } from './cluster/provisioner';
import { grantVotes } from './cluster/members';
import { placeMember, type MemberDemand, type PlacementCandidate, type PlacementCaps } from './cluster/placement';
import { dataDistribution, type DataDistribution } from './signals';

/**
 * Where a new replica set should run: the profiler's utilisation queues rank the SaaS VMs by free
 * room; the actuator only needs the best one. (`profiler/queues.ts` can implement this.)
 */
export interface HeadroomSource {
  /** The VM for a new member (`exclude`: VMs already hosting a member of the same replica set); may throw with the reason none fits. */
  pickHost(opts?: { exclude?: readonly string[] }): { vm: string; cpu?: number; memory?: number; headroom?: number; reason?: string } | undefined;
}

/** What `profiler/queues.ts` UtilisationQueues.byFreeCpu offers (every VM with its flavor and load, most free CPU first). */
export interface FreeCpuQueue {
  byFreeCpu(): PlacementCandidate[];
}

/**
 * HeadroomSource for the SSH provisioner: among the VMs it may use (`vms`, names as the profiler
 * knows them), the first in the profiler's free-CPU queue on which one member (`demand`) stays
 * within the caps (+cpu_pp CPU, +memory_pp memory, ceiling). Throws with every VM's reason when none fits.
 */
export function capsHeadroom(q: FreeCpuQueue, vms: readonly string[], demand: MemberDemand, caps: PlacementCaps): HeadroomSource {
  return {
    pickHost: (opts = {}) => {
      const r = placeMember(q.byFreeCpu(), vms, demand, caps, opts.exclude ?? []);
      if (!r.ok) throw new Error(r.reason);
      return { vm: r.vm, cpu: r.cpu_pct_after, memory: r.memory_pct_after, reason: r.reason };
    },
  };
}

/** What `profiler/queues.ts` UtilisationQueues offers (structural, so tests and other rankers fit). */
export interface FreeCpuRanking {
  mostFreeCpu(q: { k: number; minFreeMemoryGiB?: number; minFreeCpuCores?: number }): { vm: string; name: string; cpu_pct: number; memory_pct: number; free_cpu_cores: number; free_memory_gib: number }[];
}

/**
 * HeadroomSource over the profiler's utilisation queues: the VM with the most free CPU that also
 * has room for a mongod (defaults: 1 free core, 1 GiB free memory — a 0.25 GB WiredTiger cache plus
 * connections and the OS page cache).
 */
export function queuesHeadroom(q: FreeCpuRanking, need: { minFreeCpuCores?: number; minFreeMemoryGiB?: number } = {}): HeadroomSource {
  return {
    pickHost: () => {
      const best = q.mostFreeCpu({ k: 1, minFreeCpuCores: need.minFreeCpuCores ?? 1, minFreeMemoryGiB: need.minFreeMemoryGiB ?? 1 })[0];
      return best ? { vm: best.name || best.vm, cpu: best.cpu_pct, memory: best.memory_pct, headroom: best.free_cpu_cores } : undefined;
    },
  };
}

/** A fixed host (the local provisioner runs everything on 127.0.0.1). */
export const loopbackHeadroom: HeadroomSource = { pickHost: () => ({ vm: '127.0.0.1' }) };

export interface ActuatorDeps {
  /** Connected to mongos. */
  mongos: MongoClient;
  provisioner: Provisioner;
  headroom: HeadroomSource;
  config: ScalerConfig;
  log: Logger;
  decisions?: DecisionRepository;
  /**
   * Compare countDocuments before/after each action and fail on a difference (default true). Turn
   * off while ingestion keeps writing; the comparison is only meaningful on a quiesced collection.
   */
  verifyCounts?: boolean;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
}

export interface ActionOutcome {
  action: Decision['action'];
  shards?: string[];
  detail: string;
  counts?: { before: number; after: number };
  distribution?: DataDistribution;
  elapsedMs: number;
}

export class CountMismatchError extends Error {
  constructor(readonly before: number, readonly after: number) {
    super(`sample count changed across the scaling action: ${before} before, ${after} after (lost or doubled samples)`);
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Next unused shard name sh<k> given the existing ones. */
export function nextName(existing: readonly string[]): string {
  let k = 0;
  while (existing.includes(`sh${k}`)) k++;
  return `sh${k}`;
}


/**
 * Carries out policy decisions on a live sharded cluster through mongos and a provisioner. Every
 * decision is logged and stored (with inputs and outcome) in `scaler_decisions` when a repository
 * is given.
 */
export class Actuator {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pollMs: number;

  constructor(private readonly d: ActuatorDeps) {
    this.sleep = d.sleep ?? defaultSleep;
    this.pollMs = d.pollMs ?? 1000;
  }

  private get admin() {
    return this.d.mongos.db('admin');
  }

  private get ns(): string {
    return `${this.d.config.database}.${this.d.config.collection}`;
  }

  async apply(decision: Decision): Promise<ActionOutcome> {
    const id = this.d.decisions ? await this.d.decisions.record(decision) : undefined;
    this.d.log.info({ decision: { t: decision.t, action: decision.action, reason: decision.reason, shard: decision.shard, count: decision.count }, inputs: decision.inputs }, 'scaler decision');
    const started = Date.now();
    try {
      let out: ActionOutcome;
      switch (decision.action) {
        case 'add-shard':
          out = await this.scaleOut(decision.count ?? 1);
          break;
        case 'add-replica':
          out = await this.addReplica(decision.shard!, decision.count ?? 1, decision.nonVoting ?? false);
          break;
        case 'remove-shard':
          out = await this.scaleIn(decision.shard!);
          break;
        default:
          out = { action: 'none', detail: 'nothing to do', elapsedMs: 0 };
      }
      if (id) await this.d.decisions!.setOutcome(id, { status: decision.action === 'none' ? 'skipped' : 'done', detail: out.detail, at: new Date(), ...(out.counts ? { counts: out.counts } : {}) });
      this.d.log.info({ outcome: { ...out, distribution: out.distribution?.shards } }, 'scaler action done');
      return out;
    } catch (err) {
      this.d.log.error({ err: (err as Error).message, action: decision.action, elapsedMs: Date.now() - started }, 'scaler action failed');
      if (id) await this.d.decisions!.setOutcome(id, { status: 'failed', detail: (err as Error).message, at: new Date() });
      throw err;
    }
  }

  /** Orphan-safe count through mongos (countDocuments filters orphans; estimatedDocumentCount does not). */
  count(): Promise<number> {
    return this.d.mongos.db(this.d.config.database).collection(this.d.config.collection).countDocuments({});
  }

  private checkCounts(before: number, after: number): void {
    if ((this.d.verifyCounts ?? true) && before !== after) throw new CountMismatchError(before, after);
  }

  async listShards(): Promise<Document[]> {
    return (await this.admin.command({ listShards: 1 })).shards as Document[];
  }

  /**
   * Scale-out only adds shards: `meter` must have been sharded at deployment (`metering store init`,
   * or the controller at start-up with `store.sharded: true`). Sharding it here would build indexes
   * and split ranges under the very load that triggered the scale-out, so it is refused.
   */
  async assertSharded(): Promise<void> {
    const existing = await this.d.mongos.db('config').collection('collections').findOne({ _id: this.ns as never });
    if (!existing || existing.dropped || existing.unsplittable) {
      throw new Error(`${this.ns} is not sharded: shard it at deployment with \`metering store init\` (or store.sharded: true) before load; scale-out only adds shards`);
    }
  }

  async distribution(): Promise<DataDistribution | undefined> {
    const names = (await this.listShards()).map((s) => String(s._id));
    const docs = await this.admin.aggregate([{ $shardedDataDistribution: {} }]).toArray();
    return dataDistribution(docs, this.ns, names);
  }

  /**
   * Poll balancerCollectionStatus until the collection is compliant and, once the balancer has reason
   * to move data (the largest shard owns at least `minBytes`: it migrates when shards differ by three
   * range sizes), every shard in `mustOwn` owns some of it; throws after the timeout.
   */
  async waitBalanced(mustOwn: readonly string[] = [], minBytes = 0): Promise<DataDistribution | undefined> {
    const deadline = Date.now() + this.d.config.balancerTimeoutSec * 1000;
    for (;;) {
      const st = await this.admin.command({ balancerCollectionStatus: this.ns }).catch((err: Error) => ({ balancerCompliant: false, error: err.message }));
      const dist = await this.distribution();
      const owned = (name: string) => dist?.shards.find((s) => s.shard === name)?.ownedBytes ?? 0;
      const largest = Math.max(0, ...(dist?.shards.map((s) => s.ownedBytes) ?? []));
      const spread = !dist || largest < minBytes || mustOwn.every((n) => owned(n) > 0);
      if (st.balancerCompliant === true && spread) return dist;
      if (Date.now() > deadline) throw new Error(`balancer did not spread ${this.ns} within ${this.d.config.balancerTimeoutSec} s (last status ${JSON.stringify(st)}, CV ${dist?.cv.toFixed(3)})`);
      await this.sleep(this.pollMs);
    }
  }

  /** The collection's range size in bytes: its own setting (configureCollectionBalancing), else the cluster's, else 128 MB. */
  private async rangeSizeBytes(): Promise<number> {
    const config = this.d.mongos.db('config');
    const own = (await config.collection('collections').findOne({ _id: this.ns as never }))?.maxChunkSizeBytes;
    if (typeof own === 'number' && own > 0) return own;
    const mb = (await config.collection('settings').findOne({ _id: 'chunksize' as never }))?.value ?? 128;
    return Number(mb) * 1024 * 1024;
  }

  /** The VM with most headroom, when the provisioner places processes on VMs (undefined otherwise). */
  private pickVm(exclude: readonly string[] = []): string | undefined {
    if (!this.d.provisioner.placesOnVms) return undefined;
    const host = this.d.headroom.pickHost({ exclude });
    if (!host) throw new Error('no VM has room for another replica set member (headroom source returned none)');
    this.d.log.info({ vm: host.vm, reason: host.reason }, 'placement');
    return host.vm;
  }

  async scaleOut(count: number): Promise<ActionOutcome> {
    const t0 = Date.now();
    await this.assertSharded();
    const before = await this.count();
    await this.admin.command({ balancerStart: 1 });
    const added: string[] = [];
    for (let i = 0; i < count; i++) {
      const vm = this.pickVm();
      const name = nextName((await this.listShards()).map((s) => String(s._id)));
      const rs = await this.d.provisioner.startReplicaSet({ name, role: 'shardsvr', vm });
      const r = await this.admin.command({ addShard: seedList(rs), name });
      this.d.log.info({ shard: name, vm, hosts: rs.hosts, result: r.shardAdded }, 'shard added');
      added.push(name);
    }
    const dist = await this.waitBalanced(added, 3 * (await this.rangeSizeBytes()));
    const after = await this.count();
    this.checkCounts(before, after);
    return { action: 'add-shard', shards: added, detail: `added ${added.join(', ')}; spread CV ${dist?.cv.toFixed(3) ?? 'n/a'}`, counts: { before, after }, distribution: dist, elapsedMs: Date.now() - t0 };
  }

  /**
   * Add `count` members to `shard`'s replica set. Each starts without a vote (votes 0, priority 0)
   * and is added once SECONDARY; then, unless `nonVoting`, the new members get their votes one per
   * reconfig, so the voting set is even only between those two reconfigs, never during initial sync.
   */
  async addReplica(shard: string, count = 1, nonVoting = false): Promise<ActionOutcome> {
    const t0 = Date.now();
    let rs: { hosts: string[] } | undefined;
    const added: string[] = [];
    for (let i = 0; i < count; i++) {
      rs = await this.d.provisioner.addSecondary(shard, this.pickVm(this.d.provisioner.vmsOf?.(shard) ?? []), { voting: false });
      added.push(rs.hosts[rs.hosts.length - 1]!);
    }
    if (!rs) throw new Error('add-replica with no member to add');
    if (!nonVoting) await grantVotes(rs.hosts, added);
    return { action: 'add-replica', shards: [shard], detail: `${shard} now has ${rs.hosts.length} members (${rs.hosts.join(', ')}); added ${added.join(', ')} ${nonVoting ? 'without a vote (reads only)' : 'as voting members'}`, elapsedMs: Date.now() - t0 };
  }

  /**
   * Drain `shard`: removeShard repeated until `state: completed`, moving databases whose primary is
   * the shard (movePrimary) and, on 8.0, unsharded collections (moveCollection); then stop it.
   */
  async scaleIn(shard: string): Promise<ActionOutcome> {
    const t0 = Date.now();
    const shards = (await this.listShards()).map((s) => String(s._id));
    if (!shards.includes(shard)) throw new Error(`unknown shard ${shard} (have ${shards.join(', ')})`);
    const target = shards.find((s) => s !== shard);
    if (!target) throw new Error('cannot remove the last shard');
    const before = await this.count();
    await this.admin.command({ balancerStart: 1 });
    const deadline = Date.now() + this.d.config.drainTimeoutSec * 1000;
    const moved = new Set<string>();
    for (;;) {
      const r = await this.admin.command({ removeShard: shard });
      this.d.log.info({ shard, state: r.state, remaining: r.remaining, dbsToMove: r.dbsToMove }, 'removeShard');
      if (r.state === 'completed') break;
      for (const ns of (r.collectionsToMove ?? []) as string[]) {
        if (moved.has(ns)) continue;
        moved.add(ns);
        await this.admin.command({ moveCollection: ns, toShard: target }).catch((err: Error) => this.d.log.warn({ ns, err: err.message }, 'moveCollection not possible'));
      }
      // Databases move once the shard's chunks are gone (the documented order); a failure is retried on the next poll.
      const chunksLeft = Number(r.remaining?.chunks ?? 0);
      if (chunksLeft === 0) {
        for (const db of (r.dbsToMove ?? []) as string[]) {
          if (moved.has(db)) continue;
          try {
            await this.admin.command({ movePrimary: db, to: target });
            moved.add(db);
            this.d.log.info({ db, to: target }, 'movePrimary');
          } catch (err) {
            this.d.log.warn({ db, to: target, err: (err as Error).message }, 'movePrimary failed; retrying on the next poll');
          }
        }
      }
      if (Date.now() > deadline) throw new Error(`removeShard ${shard} not completed within ${this.d.config.drainTimeoutSec} s (state ${r.state}, remaining ${JSON.stringify(r.remaining)})`);
      await this.sleep(this.pollMs);
    }
    await this.d.provisioner.stopReplicaSet(shard);
    const after = await this.count();
    this.checkCounts(before, after);
    const dist = await this.distribution();
    return { action: 'remove-shard', shards: [shard], detail: `removed ${shard}; data now on ${shards.filter((s) => s !== shard).join(', ')}`, counts: { before, after }, distribution: dist, elapsedMs: Date.now() - t0 };
  }
}
