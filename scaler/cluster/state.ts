import fs from 'node:fs';
import path from 'node:path';
import { serviceDir } from '../../services/paths';

/** One mongod/mongos process of the local cluster. */
export interface ProcessRecord {
  host: string;
  port: number;
  pid: number;
  dbpath?: string;
  log: string;
}

export interface ReplicaSetRecord {
  role: 'configsvr' | 'shardsvr';
  members: ProcessRecord[];
}

/** `.services/cluster/state.json`: what `cluster up` started, so status/down/the actuator can find it. */
export interface ClusterState {
  basePort: number;
  replicaSets: Record<string, ReplicaSetRecord>;
  mongos?: ProcessRecord;
}

export const clusterDir = (): string => serviceDir('cluster');
const stateFile = (dir: string) => path.join(dir, 'state.json');

export function readState(dir = clusterDir()): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function writeState(state: ClusterState, dir = clusterDir()): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${stateFile(dir)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, stateFile(dir));
}

export function removeState(dir = clusterDir()): void {
  fs.rmSync(stateFile(dir), { force: true });
}

/**
 * Port layout (pure): config server = base, mongos = base+1, replica set k (shards numbered from 0)
 * member m = base + 10 + 10·k + m. Ten members per replica set, up to ~6000 shards below 65535.
 */
export function portFor(basePort: number, rs: 'cfg' | 'mongos' | number, member = 0): number {
  if (rs === 'cfg') return basePort;
  if (rs === 'mongos') return basePort + 1;
  if (member < 0 || member > 9) throw new Error(`member index ${member} out of range 0..9`);
  return basePort + 10 + 10 * rs + member;
}

/** Next free shard name `sh<k>` and its index. */
export function nextShardName(state: ClusterState): { name: string; index: number } {
  let k = 0;
  while (state.replicaSets[`sh${k}`]) k++;
  return { name: `sh${k}`, index: k };
}

/** Arguments of one mongod of the local cluster (pure, for tests and logs). */
export function mongodArgs(o: { role: 'configsvr' | 'shardsvr'; replSet: string; port: number; dbpath: string; cacheGB: number }): string[] {
  return [`--${o.role}`, '--replSet', o.replSet, '--port', String(o.port), '--dbpath', o.dbpath, '--bind_ip', '127.0.0.1', '--wiredTigerCacheSizeGB', String(o.cacheGB)];
}

export function mongosArgs(o: { configDb: string; port: number }): string[] {
  return ['--configdb', o.configDb, '--port', String(o.port), '--bind_ip', '127.0.0.1'];
}
