import fs from 'node:fs';
import path from 'node:path';
import { MongoClient, type Document } from 'mongodb';
import type { Logger } from 'pino';
import { formatNumber, textBars } from '../../lib/plot';
import { pidAlive, spawnDaemon, stopPid, tailFile, waitUntil } from '../../services/proc';
import type { ClusterConfig } from '../config';
import { dataDistribution, num, parseShardHost } from '../signals';
import { findBinaries } from './binaries';
import { LocalProcessProvisioner, LOOPBACK, withDirect } from './local';
import { seedList, type ReplicaSetHandle } from './provisioner';
import { clusterDir, mongosArgs, portFor, readState, removeState, writeState } from './state';

export interface UpResult {
  uri: string;
  shards: { name: string; hosts: string[] }[];
  reused: boolean;
}

export const mongosUri = (port: number): string => `mongodb://${LOOPBACK}:${port}/`;

/**
 * Start (or reuse) the local sharded cluster: config server replica set `cfg`, N single-node shard
 * replica sets `sh0..`, one mongos, all on 127.0.0.1 with a 0.25 GB WiredTiger cache each; add the
 * shards and set the range (chunk) size.
 */
export async function clusterUp(cfg: ClusterConfig, shards: number, log: Logger, dir = clusterDir()): Promise<UpResult> {
  const existing = readState(dir);
  if (existing?.mongos && pidAlive(existing.mongos.pid)) {
    return { uri: mongosUri(existing.mongos.port), shards: Object.entries(existing.replicaSets).filter(([, r]) => r.role === 'shardsvr').map(([name, r]) => ({ name, hosts: r.members.map((m) => m.host) })), reused: true };
  }
  if (existing) await clusterDown(log, dir); // stale state of a dead cluster
  const binaries = await findBinaries({ tryDownload: true });
  fs.mkdirSync(dir, { recursive: true });
  writeState({ basePort: cfg.basePort, replicaSets: {} }, dir);
  const prov = new LocalProcessProvisioner({ binaries, dir, basePort: cfg.basePort, cacheGB: cfg.wiredTigerCacheSizeGB, startTimeoutMs: cfg.startTimeoutSec * 1000, log });
  try {
    const config = await prov.startReplicaSet({ name: 'cfg', role: 'configsvr' });
    const shardHandles: ReplicaSetHandle[] = [];
    for (let i = 0; i < shards; i++) shardHandles.push(await prov.startReplicaSet({ name: `sh${i}`, role: 'shardsvr' }));
    const port = portFor(cfg.basePort, 'mongos');
    const logFile = path.join(dir, 'logs', 'mongos.log');
    const pid = spawnDaemon(binaries.mongos, mongosArgs({ configDb: seedList(config), port }), logFile, dir);
    const state = readState(dir)!;
    state.mongos = { host: `${LOOPBACK}:${port}`, port, pid, log: logFile };
    writeState(state, dir);
    await waitUntil(`mongos ${LOOPBACK}:${port}`, () => withDirect(`${LOOPBACK}:${port}`, (a) => a.command({ ping: 1 })).then(() => true), cfg.startTimeoutSec * 1000, () =>
      pidAlive(pid) ? undefined : `exited; log ${logFile}:\n${tailFile(logFile)}`,
    );
    await withDirect(`${LOOPBACK}:${port}`, async (admin, client) => {
      for (const h of shardHandles) {
        const r = await admin.command({ addShard: seedList(h), name: h.name });
        log.info({ shard: h.name, result: r.shardAdded }, 'shard added');
      }
      await client.db('config').collection('settings').updateOne({ _id: 'chunksize' as never }, { $set: { value: cfg.chunkSizeMB } }, { upsert: true });
    });
    return { uri: mongosUri(port), shards: shardHandles, reused: false };
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cluster up failed; stopping what was started');
    await clusterDown(log, dir);
    throw err;
  }
}

/** Stop mongos, the shards and the config server (by recorded pid) and delete their data. */
export async function clusterDown(log: Logger, dir = clusterDir()): Promise<{ stopped: number }> {
  const state = readState(dir);
  if (!state) return { stopped: 0 };
  let stopped = 0;
  if (state.mongos) {
    log.info({ pid: state.mongos.pid }, 'stopping mongos');
    await stopPid(state.mongos.pid);
    stopped++;
  }
  const order = Object.entries(state.replicaSets).sort(([, a], [, b]) => (a.role === b.role ? 0 : a.role === 'configsvr' ? 1 : -1));
  for (const [name, rs] of order) {
    for (const m of rs.members) {
      log.info({ replSet: name, pid: m.pid }, 'stopping mongod');
      await stopPid(m.pid);
      stopped++;
    }
  }
  fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  removeState(dir);
  return { stopped };
}

export interface ClusterStatus {
  uri: string;
  balancer: { mode: string; inBalancerRound: boolean; rounds?: number };
  shards: { name: string; hosts: string[]; draining: boolean; ownedBytes: number; ownedDocs: number }[];
  collections: { ns: string; cv: number; totalBytes: number }[];
}

/** Shards, owned data per shard (all sharded collections) and balancer state, via mongos. */
export async function clusterStatus(uri: string): Promise<ClusterStatus> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    return await clusterStatusOf(client, uri);
  } finally {
    await client.close();
  }
}

/** The same status through an existing connection to mongos (the controller's store client). */
export async function clusterStatusOf(client: MongoClient, uri: string): Promise<ClusterStatus> {
  const admin = client.db('admin');
  const list = (await admin.command({ listShards: 1 })).shards as Document[];
  const bal = await admin.command({ balancerStatus: 1 });
  const dist = await admin.aggregate([{ $shardedDataDistribution: {} }]).toArray();
  const names = list.map((s) => String(s._id));
  const shards = list.map((s) => ({ name: String(s._id), hosts: parseShardHost(String(s.host)).hosts, draining: s.draining === true, ownedBytes: 0, ownedDocs: 0 }));
  const collections = [];
  for (const d of dist) {
    const ns = String(d.ns);
    if (ns.startsWith('config.')) continue;
    const dd = dataDistribution(dist, ns, names)!;
    collections.push({ ns, cv: dd.cv, totalBytes: dd.totalBytes });
    for (const s of dd.shards) {
      const row = shards.find((x) => x.name === s.shard);
      if (row) {
        row.ownedBytes += s.ownedBytes;
        row.ownedDocs += s.ownedDocs;
      }
    }
  }
  return { uri, balancer: { mode: String(bal.mode), inBalancerRound: bal.inBalancerRound === true, rounds: num(bal.numBalancerRounds) }, shards, collections };
}

/** Text rendering of a status (pure): one bar per shard of owned data size. */
export function renderStatus(s: ClusterStatus): string {
  const lines = [`mongos ${s.uri}   balancer: ${s.balancer.mode}${s.balancer.inBalancerRound ? ' (balancing now)' : ''}${s.balancer.rounds !== undefined ? `, ${s.balancer.rounds} rounds` : ''}`, ''];
  lines.push(
    textBars(
      s.shards.map((x) => ({ label: `${x.name}${x.draining ? ' (draining)' : ''}`, value: x.ownedBytes, note: `${formatBytes(x.ownedBytes)}  ${formatNumber(x.ownedDocs)} docs  ${x.hosts.join(',')}` })),
      30,
    ),
  );
  if (s.collections.length) {
    lines.push('');
    for (const c of s.collections) lines.push(`${c.ns}: ${formatBytes(c.totalBytes)}, spread CV ${c.cv.toFixed(3)}`);
  }
  return lines.join('\n');
}

export function formatBytes(b: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = b;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
