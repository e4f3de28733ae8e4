import path from 'node:path';
import { STATE_DIR } from './paths';
import { pidAlive, stopPid, withLock } from './proc';
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
    if (current && pidAlive(current.pid)) {
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

/** Stop the instance recorded for `name` (if any) and forget it. Returns what was stopped. */
export async function stopManaged(name: ServiceName, onlyStartedBy?: string): Promise<ServiceState | undefined> {
  return withLock(path.join(STATE_DIR, `${name}.lock`), LOCK_TIMEOUT_MS, async () => {
    const state = readState(name);
    if (!state) return undefined;
    if (onlyStartedBy && state.startedBy !== onlyStartedBy) return undefined;
    await stopPid(state.pid);
    clearState(name);
    return state;
  });
}
