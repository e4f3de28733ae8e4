import type { Document, MongoClient } from 'mongodb';
import type { PolicyConfig } from './config';
import { clusterStatusOf, type ClusterStatus } from './cluster/cluster';
import { num } from './signals';

/**
 * What the store is deployed on, and what the scaler can do with it. Only a sharded cluster (the
 * client talks to mongos) can be scaled by adding or removing shards.
 */
export type TopologyKind = 'sharded' | 'replica-set' | 'standalone';

export interface Topology {
  kind: TopologyKind;
  /** `mongod`, `mongos`, or `stand-in` (the CI wire-protocol stand-in reports process "java"). */
  server: string;
  version?: string;
  /** Replica set name (replica-set topology). */
  setName?: string;
  /** The member the client talks to (hello.me, or the primary). */
  host?: string;
}

/** Classify a `hello` (or legacy `isMaster`) answer plus serverStatus.process (pure). */
export function classifyTopology(hello: Document, serverProcess?: string, version?: string): Topology {
  const kind: TopologyKind = hello.msg === 'isdbgrid' ? 'sharded' : typeof hello.setName === 'string' ? 'replica-set' : 'standalone';
  const server = serverProcess === 'java' ? 'stand-in' : serverProcess ?? (kind === 'sharded' ? 'mongos' : 'mongod');
  const t: Topology = { kind, server };
  if (version) t.version = version;
  if (typeof hello.setName === 'string') t.setName = hello.setName;
  const host = typeof hello.me === 'string' ? hello.me : typeof hello.primary === 'string' ? hello.primary : undefined;
  if (host) t.host = host;
  return t;
}

/** Ask the deployment what it is (hello, falling back to isMaster; serverStatus.process; buildInfo). */
export async function detectTopology(client: MongoClient): Promise<Topology> {
  const admin = client.db('admin');
  const hello = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
  const ss = await admin.command({ serverStatus: 1 }).catch(() => undefined);
  const bi = await admin.command({ buildInfo: 1 }).catch(() => undefined);
  return classifyTopology(hello, typeof ss?.process === 'string' ? ss.process : undefined, typeof bi?.version === 'string' ? bi.version : undefined);
}

/** Why the scaler cannot add or remove shards on this topology (undefined: it can). */
export function notShardedReason(t: Topology): string | undefined {
  if (t.kind === 'sharded') return undefined;
  const what = t.server === 'stand-in' ? 'the MongoDB stand-in (no sharding)' : t.kind === 'replica-set' ? `replica set ${t.setName ?? ''}`.trim() : 'a standalone mongod';
  return `not a sharded cluster: the store runs on ${what}, so there is no mongos to addShard to (set MONGO_BIN_DIR and run \`metering cluster up\` for a real cluster)`;
}

export interface StoreSize {
  database: string;
  dataBytes: number;
  storageBytes: number;
  indexBytes: number;
  objects: number;
  collections: number;
  /** Disk of the volume holding the data (dbStats fsUsedSize / fsTotalSize), when reported. */
  fsUsedBytes?: number;
  fsTotalBytes?: number;
}

/** `dbStats` → sizes (pure). */
export function storeSize(database: string, s: Document): StoreSize {
  const out: StoreSize = {
    database,
    dataBytes: num(s.dataSize) ?? 0,
    storageBytes: num(s.storageSize) ?? 0,
    indexBytes: num(s.indexSize) ?? 0,
    objects: num(s.objects) ?? 0,
    collections: num(s.collections) ?? 0,
  };
  const used = num(s.fsUsedSize);
  const total = num(s.fsTotalSize);
  if (used !== undefined) out.fsUsedBytes = used;
  if (total !== undefined) out.fsTotalBytes = total;
  return out;
}

/** What `GET /v1/cluster` answers. */
export interface ClusterView {
  topology: Topology;
  sharded: boolean;
  /** Set when the deployment is not sharded: what that means for the scaler. */
  note?: string;
  shards: ClusterStatus['shards'];
  collections: ClusterStatus['collections'];
  balancer?: ClusterStatus['balancer'];
  /** dbStats of the metering database (on every topology). */
  storage?: StoreSize;
  shardCount: number;
  policy: { minShards: number; maxShards: number; canAdd: boolean; canRemove: boolean };
  /** Signals the server did not provide (logged). */
  skipped: string[];
}

/** Shard count against the policy bounds (pure). A non-sharded deployment counts as one shard. */
export function boundsOf(shardCount: number, policy: PolicyConfig): ClusterView['policy'] {
  return { minShards: policy.minShards, maxShards: policy.maxShards, canAdd: shardCount < policy.maxShards, canRemove: shardCount > policy.minShards };
}

/**
 * The current state of the store's deployment through the controller's own client: on mongos the
 * shards with owned data per shard ($shardedDataDistribution) and the balancer; elsewhere a clear
 * note and the database's dbStats size.
 */
export async function clusterView(client: MongoClient, database: string, policy: PolicyConfig, uri = ''): Promise<ClusterView> {
  const topology = await detectTopology(client);
  const skipped: string[] = [];
  let storage: StoreSize | undefined;
  try {
    storage = storeSize(database, await client.db(database).command({ dbStats: 1 }));
  } catch (err) {
    skipped.push(`dbStats: ${(err as Error).message}`);
  }
  if (topology.kind !== 'sharded') {
    return { topology, sharded: false, note: notShardedReason(topology), shards: [], collections: [], ...(storage ? { storage } : {}), shardCount: 1, policy: boundsOf(1, policy), skipped };
  }
  const st = await clusterStatusOf(client, uri);
  return { topology, sharded: true, shards: st.shards, collections: st.collections, balancer: st.balancer, ...(storage ? { storage } : {}), shardCount: st.shards.length, policy: boundsOf(st.shards.length, policy), skipped };
}
