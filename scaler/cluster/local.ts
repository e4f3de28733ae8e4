import fs from 'node:fs';
import path from 'node:path';
import { MongoClient, type Document } from 'mongodb';
import type { Logger } from 'pino';
import { pidAlive, spawnDaemon, stopPid, tailFile, waitUntil } from '../../services/proc';
import type { MongoBinaries } from './binaries';
import type { Provisioner, ReplicaSetHandle, ReplicaSetSpec } from './provisioner';
import { mongodArgs, nextShardName, portFor, readState, writeState, type ClusterState, type ProcessRecord } from './state';

export const LOOPBACK = '127.0.0.1';

/** A short-lived direct connection to one mongod/mongos (never discovers other hosts). */
export async function withDirect<T>(host: string, fn: (admin: ReturnType<MongoClient['db']>, client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(`mongodb://${host}/?directConnection=true`, { serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000 });
  try {
    await client.connect();
    return await fn(client.db('admin'), client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export interface LocalProvisionerOptions {
  binaries: MongoBinaries;
  dir: string;
  basePort: number;
  cacheGB: number;
  startTimeoutMs: number;
  /** How long a new secondary may take to finish its initial sync (default 30 min: it copies the shard's data). */
  initialSyncTimeoutMs?: number;
  log: Logger;
}

/**
 * Starts replica-set members as local mongod processes on 127.0.0.1 (ports from `portFor`, data and
 * logs under `dir`), and records them in the cluster state file so `cluster down` can stop them.
 */
export class LocalProcessProvisioner implements Provisioner {
  /** Every replica set runs on 127.0.0.1: there is no VM to choose. */
  readonly placesOnVms = false;
  constructor(private readonly o: LocalProvisionerOptions) {}

  private state(): ClusterState {
    return readState(this.o.dir) ?? { basePort: this.o.basePort, replicaSets: {} };
  }

  private async startMember(role: 'configsvr' | 'shardsvr', replSet: string, port: number): Promise<ProcessRecord> {
    const dbpath = path.join(this.o.dir, 'data', `${replSet}-${port}`);
    fs.mkdirSync(dbpath, { recursive: true });
    const log = path.join(this.o.dir, 'logs', `${replSet}-${port}.log`);
    const args = mongodArgs({ role, replSet, port, dbpath, cacheGB: this.o.cacheGB });
    this.o.log.info({ replSet, port, args }, 'starting mongod');
    const pid = spawnDaemon(this.o.binaries.mongod, args, log, this.o.dir);
    const host = `${LOOPBACK}:${port}`;
    await waitUntil(
      `mongod ${host}`,
      () => withDirect(host, (admin) => admin.command({ ping: 1 })).then(() => true),
      this.o.startTimeoutMs,
      () => (pidAlive(pid) ? undefined : `exited; log ${log}:\n${tailFile(log)}`),
    );
    return { host, port, pid, dbpath, log };
  }

  async startReplicaSet(spec: ReplicaSetSpec): Promise<ReplicaSetHandle> {
    if (spec.vm && spec.vm !== LOOPBACK && spec.vm !== 'localhost') throw new Error(`LocalProcessProvisioner only runs on ${LOOPBACK}, not ${spec.vm}`);
    const state = this.state();
    if (state.replicaSets[spec.name]) throw new Error(`replica set ${spec.name} already exists`);
    const index = spec.role === 'configsvr' ? 'cfg' : Number(/^sh(\d+)$/.exec(spec.name)?.[1] ?? nextShardName(state).index);
    const port = portFor(state.basePort, index as 'cfg' | number);
    const member = await this.startMember(spec.role, spec.name, port);
    state.replicaSets[spec.name] = { role: spec.role, members: [member] };
    writeState(state, this.o.dir);
    const config: Document = { _id: spec.name, members: [{ _id: 0, host: member.host }] };
    if (spec.role === 'configsvr') config.configsvr = true;
    await withDirect(member.host, (admin) => admin.command({ replSetInitiate: config }));
    await this.waitPrimary(member.host);
    return { name: spec.name, hosts: [member.host] };
  }

  private waitPrimary(host: string): Promise<true> {
    return waitUntil(`primary ${host}`, () => withDirect(host, (a) => a.command({ hello: 1 })).then((h) => (h.isWritablePrimary ? (true as const) : undefined)), this.o.startTimeoutMs);
  }

  async addSecondary(name: string, vm?: string, opts: { voting?: boolean } = {}): Promise<ReplicaSetHandle> {
    if (vm && vm !== LOOPBACK && vm !== 'localhost') throw new Error(`LocalProcessProvisioner only runs on ${LOOPBACK}, not ${vm}`);
    const state = this.state();
    const rs = state.replicaSets[name];
    if (!rs) throw new Error(`unknown replica set ${name}`);
    const idx = name === 'cfg' ? 'cfg' : Number(/^sh(\d+)$/.exec(name)?.[1]);
    if (idx === 'cfg') throw new Error('the config server replica set is not scaled by the autoscaler');
    const port = portFor(state.basePort, idx, rs.members.length);
    const member = await this.startMember(rs.role, name, port);
    rs.members.push(member);
    writeState(state, this.o.dir);
    // the first member need not be the primary any more (failover): reconfigure through the primary
    const seed = rs.members[0]!.host;
    const primary = ((await withDirect(seed, (a) => a.command({ hello: 1 }))).primary as string | undefined) ?? seed;
    await withDirect(primary, async (admin) => {
      const { config } = await admin.command({ replSetGetConfig: 1 });
      const nextId = Math.max(...(config.members as Document[]).map((m) => Number(m._id))) + 1;
      config.members.push({ _id: nextId, host: member.host, ...(opts.voting === false ? { votes: 0, priority: 0 } : {}) });
      config.version = Number(config.version) + 1;
      await admin.command({ replSetReconfig: config });
    });
    await waitUntil(
      `secondary ${member.host}`,
      () => withDirect(member.host, (a) => a.command({ hello: 1 })).then((h) => (h.secondary ? true : undefined)),
      this.o.initialSyncTimeoutMs ?? 30 * 60_000,
    );
    return { name, hosts: rs.members.map((m) => m.host) };
  }

  async stopReplicaSet(name: string): Promise<void> {
    const state = this.state();
    const rs = state.replicaSets[name];
    if (!rs) return;
    for (const m of [...rs.members].reverse()) {
      this.o.log.info({ replSet: name, host: m.host, pid: m.pid }, 'stopping mongod');
      await stopPid(m.pid);
      if (m.dbpath) fs.rmSync(m.dbpath, { recursive: true, force: true });
    }
    delete state.replicaSets[name];
    writeState(state, this.o.dir);
  }
}
