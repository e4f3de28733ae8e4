import fs from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from './paths';
import { ServiceUnavailableError, pidAlive, spawnDaemon, stopPid, tailFile, withLock } from './proc';
import { clearState, readState, writeState, type MongoTier, type ServiceName, type ServiceState } from './state';

/** How a caller reaches a service, and whether this call started it. */
export interface Endpoint {
  service: ServiceName;
  /** redis://…, mongodb://…, or comma-separated host:port brokers. */
  address: string;
  tier?: MongoTier;
  /** Given from outside (REDIS_URL, MONGODB_URI, KAFKA_BROKERS): never started or stopped here. */
  external: boolean;
  /** This call started it (false when an already running, healthy instance was reused). */
  started: boolean;
  pid?: number;
}

/** Words one of which the command line of each service's process contains. */
const PROCESS_MARKS: Record<ServiceName, string[]> = {
  kafka: ['kafka.Kafka'],
  redis: ['redis-server'],
  mongo: ['mongod', 'StandIn'],
  rabbitmq: ['rabbitmq-server'],
};

/**
 * True when the recorded pid is alive AND still our service (pids get reused: never signal a
 * process that merely inherited the number). Without /proc, an alive pid is taken as ours.
 */
export function ownProcessAlive(state: ServiceState): boolean {
  if (!pidAlive(state.pid)) return false;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${state.pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return fs.existsSync('/proc/self') ? false : true;
  }
  return PROCESS_MARKS[state.service].some((mark) => cmdline.includes(mark));
}

/** How long a caller waits for another process that is starting the same service. */
const LOCK_TIMEOUT_MS = 240_000;

/**
 * Reuse the running instance of `name` if its pid is alive and `healthy` says yes; otherwise stop
 * any leftover and `start` a new one. Serialised across processes by `.services/<name>.lock`.
 */
export async function ensureManaged(
  name: ServiceName,
  healthy: (state: ServiceState) => Promise<boolean>,
  start: () => Promise<ServiceState>,
): Promise<Endpoint> {
  return withLock(path.join(STATE_DIR, `${name}.lock`), LOCK_TIMEOUT_MS, async () => {
    const current = readState(name);
    if (current && ownProcessAlive(current)) {
      if (await healthy(current).catch(() => false)) {
        return { service: name, address: current.address, tier: current.tier, external: false, started: false, pid: current.pid };
      }
      await stopPid(current.pid);
    }
    if (current) clearState(name);
    const state = await start();
    writeState(state);
    return { service: name, address: state.address, tier: state.tier, external: false, started: true, pid: state.pid };
  });
}

/** What a started daemon is recorded as, besides what launchDaemon fills in (pid, log, start time). */
export type DaemonState = Omit<ServiceState, 'pid' | 'logFile' | 'startedAt'>;

/**
 * Start `cmd args` as the service's daemon (output to `logFile`) and wait for `ready`; it gets
 * `exited`, a fail-fast check for waitUntil that ends the wait with the log's tail once the process
 * died. When `ready` throws, the process is stopped and a ServiceUnavailableError names the log.
 */
export async function launchDaemon(
  daemon: { cmd: string; args: string[]; logFile: string; cwd: string; tailLines?: number; env?: NodeJS.ProcessEnv },
  ready: (exited: () => string | undefined) => Promise<unknown>,
  state: DaemonState,
): Promise<ServiceState> {
  const { logFile } = daemon;
  const pid = spawnDaemon(daemon.cmd, daemon.args, logFile, daemon.cwd, daemon.env);
  try {
    await ready(() => (pidAlive(pid) ? undefined : `exited early:\n${tailFile(logFile, daemon.tailLines)}`));
  } catch (err) {
    await stopPid(pid);
    throw new ServiceUnavailableError(state.service, `${(err as Error).message}\n(log: ${logFile})`);
  }
  return { ...state, pid, logFile, startedAt: new Date().toISOString() };
}

/** Stop the instance recorded for `name` (if any) and forget it. Returns what was stopped. */
export async function stopManaged(name: ServiceName, onlyStartedBy?: string): Promise<ServiceState | undefined> {
  return withLock(path.join(STATE_DIR, `${name}.lock`), LOCK_TIMEOUT_MS, async () => {
    const state = readState(name);
    if (!state) return undefined;
    if (onlyStartedBy && state.startedBy !== onlyStartedBy) return undefined;
    if (ownProcessAlive(state)) await stopPid(state.pid);
    clearState(name);
    return state;
  });
}
