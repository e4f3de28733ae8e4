import fs from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from './paths';

export type ServiceName = 'kafka' | 'redis' | 'mongo' | 'rabbitmq';
export const SERVICE_NAMES: readonly ServiceName[] = ['kafka', 'redis', 'mongo', 'rabbitmq'];

/** MongoDB tier: a real mongod (or an external URI to one), or the Java wire-protocol stand-in. */
export type MongoTier = 'real' | 'standin';

/** What the manager records about a service it started (`.services/<name>.json`). */
export interface ServiceState {
  service: ServiceName;
  pid: number;
  /** Ports it listens on, first is the client port (Kafka: broker then controller). */
  ports: number[];
  /** Client address: redis://…, mongodb://…, amqp://…, or host:port for Kafka. */
  address: string;
  /** Which MongoDB implementation (mongo only). */
  tier?: MongoTier;
  /** What runs: binary path or main class, for status output. */
  program: string;
  logFile: string;
  startedAt: string;
  /** Who started it: 'cli' (metering services up) or 'tests' (vitest globalSetup); tests stop only theirs. */
  startedBy: string;
}

export const stateFile = (name: ServiceName): string => path.join(STATE_DIR, `${name}.json`);

export function readState(name: ServiceName): ServiceState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(name), 'utf8')) as ServiceState;
  } catch {
    return undefined;
  }
}

export function writeState(state: ServiceState): void {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const file = stateFile(state.service);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

export function clearState(name: ServiceName): void {
  fs.rmSync(stateFile(name), { force: true });
}
