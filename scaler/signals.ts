import type { Logger } from 'pino';
import type { Document, MongoClient } from 'mongodb';
import type { Observation } from './metrics';

/**
 * Converters from raw MongoDB statistics (serverStatus, $collStats, $shardedDataDistribution,
 * dbStats) and the profiler's per-VM utilisation into scaler observations. The converters are pure;
 * `collectSignals` is the thin I/O part that queries a live deployment through mongos.
 */

/**
 * What the control loop reads each round, field by field: the single list README.md and
 * docs/scaler.md document (`test/scaler/loop-signals.test.ts` fails when the documented lists, this
 * one, and what a collection round really asks the server for and fills in differ). `$collStats` and
 * `$shardedDataDistribution` are not in it: only `GET /v1/cluster`, `scaler collect --distribution`
 * and the actuator's balancer wait read them.
 */
export const LOOP_SIGNALS = [
  { field: 'reads_per_s', source: 'serverStatus', detail: 'Δ(opcounters.query + getmore) / Δt' },
  { field: 'writes_per_s', source: 'serverStatus', detail: 'Δ(opcounters.insert + update + delete) / Δt' },
  { field: 'query_ms', source: 'serverStatus', detail: 'Δ opLatencies.reads.latency / Δ ops' },
  { field: 'disk', source: 'dbStats', detail: 'fsUsedSize / fsTotalSize' },
  { field: 'disk_total_bytes', source: 'dbStats', detail: 'fsTotalSize' },
  { field: 'cpu', source: 'profiler', detail: "moving-average CPU % of the shard's busiest member VM" },
  { field: 'memory', source: 'profiler', detail: "moving-average memory % of the shard's busiest member VM" },
] as const;

/** Server commands a round may send besides the signal sources: finding shards and their primaries. */
export const LOOP_DISCOVERY_COMMANDS = ['listShards', 'hello', 'isMaster'] as const;

/** Numbers in server responses may be int32, double, or Long/Int64 (objects with toNumber). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object') {
    const o = v as { toNumber?: () => number; valueOf?: () => unknown };
    if (typeof o.toNumber === 'function') return o.toNumber();
    const p = o.valueOf?.();
    if (typeof p === 'number') return p;
  }
  return undefined;
}

const get = (doc: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), doc);

export interface OpRates {
  reads_per_s: number;
  writes_per_s: number;
  /** Average read (query/getmore) latency over the interval; undefined when no reads happened. */
  query_ms?: number;
  /** Average write latency over the interval (ms). */
  write_ms?: number;
  interval_s: number;
}

/**
 * Rates between two `serverStatus` snapshots of the same process: writes/s from opcounters
 * insert+update+delete, reads/s from query+getmore, and average latency from
 * opLatencies.{reads,writes} as Δlatency(µs)/Δops → ms. The interval comes from `localTime`
 * (or `uptimeMillis`). Returns undefined when the snapshots cannot be compared: different
 * processes (pid/host changed), a restart (uptime went back, counters reset) or no time elapsed.
 */
export function opRates(prev: Document, cur: Document): OpRates | undefined {
  if (prev.host !== undefined && cur.host !== undefined && prev.host !== cur.host) return undefined;
  if (num(prev.pid) !== undefined && num(cur.pid) !== undefined && num(prev.pid) !== num(cur.pid)) return undefined;
  const up0 = num(prev.uptimeMillis) ?? (num(prev.uptime) ?? 0) * 1000;
  const up1 = num(cur.uptimeMillis) ?? (num(cur.uptime) ?? 0) * 1000;
  if (up1 < up0) return undefined; // restarted
  const t0 = prev.localTime instanceof Date ? prev.localTime.getTime() : up0;
  const t1 = cur.localTime instanceof Date ? cur.localTime.getTime() : up1;
  const dt = (t1 - t0) / 1000;
  if (!(dt > 0)) return undefined;
  const delta = (path: string): number | undefined => {
    const a = num(get(prev, path));
    const b = num(get(cur, path));
    if (a === undefined || b === undefined) return undefined;
    return b - a;
  };
  const sum = (paths: string[]): number | undefined => {
    const ds = paths.map(delta);
    if (ds.every((d) => d === undefined)) return undefined;
    return ds.reduce<number>((a, d) => a + (d ?? 0), 0);
  };
  const writes = sum(['opcounters.insert', 'opcounters.update', 'opcounters.delete']);
  const reads = sum(['opcounters.query', 'opcounters.getmore']);
  if (writes === undefined && reads === undefined) return undefined;
  if ((writes ?? 0) < 0 || (reads ?? 0) < 0) return undefined; // counters reset
  const out: OpRates = { reads_per_s: (reads ?? 0) / dt, writes_per_s: (writes ?? 0) / dt, interval_s: dt };
  const avgMs = (kind: 'reads' | 'writes'): number | undefined => {
    const dl = delta(`opLatencies.${kind}.latency`);
    const dn = delta(`opLatencies.${kind}.ops`);
    return dl !== undefined && dn !== undefined && dn > 0 && dl >= 0 ? dl / dn / 1000 : undefined;
  };
  const q = avgMs('reads');
  const w = avgMs('writes');
  if (q !== undefined) out.query_ms = q;
  if (w !== undefined) out.write_ms = w;
  return out;
}

export interface ShardStorage {
  shard: string;
  size: number;
  count: number;
  storageSize: number;
  totalIndexSize: number;
  avgObjSize: number;
}

/**
 * `$collStats: {storageStats: {}}` on a sharded collection through mongos returns one document per
 * shard (`shard`, `storageStats.{size,count,storageSize,totalIndexSize,avgObjSize}`). Unsharded: one
 * document without `shard` (named by `fallbackShard`).
 */
export function collStatsPerShard(docs: readonly Document[], fallbackShard = 'primary'): ShardStorage[] {
  return docs.map((d) => {
    const s = (d.storageStats ?? {}) as Document;
    return {
      shard: typeof d.shard === 'string' ? d.shard : fallbackShard,
      size: num(s.size) ?? 0,
      count: num(s.count) ?? 0,
      storageSize: num(s.storageSize) ?? 0,
      totalIndexSize: num(s.totalIndexSize) ?? 0,
      avgObjSize: num(s.avgObjSize) ?? 0,
    };
  });
}

export interface DataDistribution {
  ns: string;
  shards: { shard: string; ownedBytes: number; ownedDocs: number; orphanedDocs: number; orphanedBytes: number }[];
  totalBytes: number;
  /** Coefficient of variation (population stddev / mean) of ownedSizeBytes across shards; 0 when one shard. */
  cv: number;
  /** max / mean of ownedSizeBytes (1 = perfectly even). */
  skew: number;
}

/** Population coefficient of variation of a list (0 for empty, one element or zero mean). */
export function coefficientOfVariation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return 0;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return Math.sqrt(variance) / mean;
}

/**
 * `$shardedDataDistribution` (admin db, mongos, 6.0.3+) → per-shard owned bytes and CV for `ns`.
 * `allShards` lists shards that own nothing (they are absent from the output but count for the CV).
 */
export function dataDistribution(docs: readonly Document[], ns: string, allShards: readonly string[] = []): DataDistribution | undefined {
  const doc = docs.find((d) => d.ns === ns);
  if (!doc) return undefined;
  const shards = ((doc.shards ?? []) as Document[]).map((s) => ({
    shard: String(s.shardName),
    ownedBytes: num(s.ownedSizeBytes) ?? 0,
    ownedDocs: num(s.numOwnedDocuments) ?? 0,
    orphanedDocs: num(s.numOrphanedDocs) ?? 0,
    orphanedBytes: num(s.orphanedSizeBytes) ?? 0,
  }));
  for (const name of allShards) if (!shards.some((s) => s.shard === name)) shards.push({ shard: name, ownedBytes: 0, ownedDocs: 0, orphanedDocs: 0, orphanedBytes: 0 });
  shards.sort((a, b) => a.shard.localeCompare(b.shard));
  const bytes = shards.map((s) => s.ownedBytes);
  const total = bytes.reduce((a, b) => a + b, 0);
  const mean = shards.length ? total / shards.length : 0;
  return { ns, shards, totalBytes: total, cv: coefficientOfVariation(bytes), skew: mean > 0 ? Math.max(...bytes) / mean : 0 };
}

/** `dbStats` fsUsedSize / fsTotalSize → disk percent used (undefined when the fields are absent). */
export function diskPercent(dbStats: Document): { disk: number; disk_total_bytes: number } | undefined {
  const used = num(dbStats.fsUsedSize);
  const total = num(dbStats.fsTotalSize);
  if (used === undefined || total === undefined || total <= 0) return undefined;
  return { disk: (used / total) * 100, disk_total_bytes: total };
}

/**
 * OS load of shard hosts from the profiler's per-VM utilisation (moving averages, percent). A shard
 * whose members run on several VMs reports its busiest VM (any hot member makes the shard hot).
 */
export function osLoad(utilisation: ReadonlyMap<string, { cpu?: number; memory?: number }> | Record<string, { cpu?: number; memory?: number }>, shardVms: Record<string, readonly string[]>, t: Date): Observation[] {
  const map = utilisation instanceof Map ? utilisation : new Map(Object.entries(utilisation));
  const out: Observation[] = [];
  for (const [shard, vms] of Object.entries(shardVms)) {
    const us = vms.map((vm) => map.get(vm)).filter((u): u is { cpu?: number; memory?: number } => u !== undefined);
    if (us.length === 0) continue;
    const o: Observation = { t, shard };
    const cpus = us.map((u) => u.cpu).filter((v): v is number => v !== undefined);
    const mems = us.map((u) => u.memory).filter((v): v is number => v !== undefined);
    if (cpus.length) o.cpu = Math.max(...cpus);
    if (mems.length) o.memory = Math.max(...mems);
    out.push(o);
  }
  return out;
}

/** Merge partial observations of the same shard and instant (later fields win). */
export function mergeObservations(parts: readonly Observation[]): Observation[] {
  const byKey = new Map<string, Observation>();
  for (const p of parts) {
    const k = `${p.shard}@${p.t.getTime()}`;
    byKey.set(k, { ...byKey.get(k), ...p });
  }
  return [...byKey.values()];
}

/** `listShards` host string `rs/h1:p1,h2:p2` → replica set name and hosts. */
export function parseShardHost(host: string): { rs: string; hosts: string[] } {
  const slash = host.indexOf('/');
  if (slash < 0) return { rs: '', hosts: host.split(',') };
  return { rs: host.slice(0, slash), hosts: host.slice(slash + 1).split(',').filter(Boolean) };
}

/**
 * A direct connection to the shard's primary: the first listed host may be a secondary after a
 * failover or add-replica, and a secondary's opcounters show no writes (they count under
 * opcountersRepl), which would make the shard look read-only. Follows `hello.primary`.
 */
export async function connectPrimary(connect: (host: string) => Promise<MongoClient>, hosts: readonly string[]): Promise<MongoClient> {
  const first = await connect(hosts[0]!);
  const hello = await first.db('admin').command({ hello: 1 }).catch(() => first.db('admin').command({ isMaster: 1 }));
  const primary = typeof hello.primary === 'string' ? hello.primary : undefined;
  if (hello.isWritablePrimary || hello.ismaster || !primary || primary === hosts[0]) return first;
  await first.close();
  return connect(primary);
}

export interface CollectorDeps {
  /**
   * Also read `$shardedDataDistribution` and `$collStats` (per-shard data spread and storage). Off by
   * default: the policy's observations do not use them, and the control loop runs every round.
   */
  withDistribution?: boolean;
  /** Connected to mongos. */
  mongos: MongoClient;
  /** Opens a direct connection to a shard member (`mongodb://host/?directConnection=true`). */
  connect: (host: string) => Promise<MongoClient>;
  log: Logger;
  database: string;
  collection: string;
}

export interface Collected {
  observations: Observation[];
  distribution?: DataDistribution;
  storage?: ShardStorage[];
  /** Member host names (without port) of every listed shard, whether or not it could be sampled. */
  shardHosts: Record<string, string[]>;
  /** What the server did not support (logged). */
  skipped: string[];
}

/**
 * One collection round against a live deployment: listShards → per shard primary serverStatus +
 * dbStats (direct connection), plus $collStats and $shardedDataDistribution through mongos. Keeps
 * the previous serverStatus per shard to compute rates; call it periodically with the same `state`.
 * Anything the server does not support is skipped and logged, never fatal.
 */
export async function collectSignals(deps: CollectorDeps, state: Map<string, Document>, now = new Date()): Promise<Collected> {
  const skipped: string[] = [];
  const admin = deps.mongos.db('admin');
  const tryRun = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      skipped.push(`${what}: ${(err as Error).message}`);
      deps.log.warn({ what, err: (err as Error).message }, 'scaler signal not available, skipped');
      return undefined;
    }
  };
  const shards = ((await tryRun('listShards', () => admin.command({ listShards: 1 })))?.shards ?? []) as Document[];
  const observations: Observation[] = [];
  const shardHosts: Record<string, string[]> = {};
  for (const s of shards) {
    const name = String(s._id);
    const { hosts } = parseShardHost(String(s.host));
    shardHosts[name] = hosts.map((h) => h.split(':')[0]!);
    const client = await tryRun(`connect ${name}`, () => connectPrimary(deps.connect, hosts));
    if (!client) continue;
    try {
      const o: Observation = { t: now, shard: name };
      const ss = await tryRun(`serverStatus ${name}`, () => client.db('admin').command({ serverStatus: 1 }));
      if (ss) {
        const prev = state.get(name);
        state.set(name, ss);
        const r = prev ? opRates(prev, ss) : undefined;
        if (r) {
          o.reads_per_s = r.reads_per_s;
          o.writes_per_s = r.writes_per_s;
          if (r.query_ms !== undefined) o.query_ms = r.query_ms;
        }
      }
      const db = await tryRun(`dbStats ${name}`, () => client.db(deps.database).command({ dbStats: 1 }));
      const disk = db ? diskPercent(db) : undefined;
      if (disk) Object.assign(o, disk);
      observations.push(o);
    } finally {
      await client.close();
    }
  }
  const ns = `${deps.database}.${deps.collection}`;
  const dist = deps.withDistribution ? await tryRun('$shardedDataDistribution', () => admin.aggregate([{ $shardedDataDistribution: {} }]).toArray()) : undefined;
  const storage = deps.withDistribution ? await tryRun('$collStats', () => deps.mongos.db(deps.database).collection(deps.collection).aggregate([{ $collStats: { storageStats: {} } }]).toArray()) : undefined;
  return {
    observations,
    distribution: dist ? dataDistribution(dist, ns, shards.map((s) => String(s._id))) : undefined,
    storage: storage ? collStatsPerShard(storage) : undefined,
    shardHosts,
    skipped,
  };
}
