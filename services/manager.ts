import fs from 'node:fs';
import path from 'node:path';
import { ensureKafka, kafkaApiVersionsOk } from './kafka';
import type { Endpoint } from './managed';
import { ownProcessAlive, stopManaged } from './managed';
import { detectMongoTier, ensureMongo } from './mongo';
import { STATE_DIR } from './paths';
import { ServiceUnavailableError, pidAlive, portOpen } from './proc';
import { ensureRedis, redisPing } from './redis';
import { amqpHandshakeOk, ensureRabbitMq } from './rabbitmq';
import { SERVICE_NAMES, readState, type MongoTier, type ServiceName } from './state';

export { ServiceUnavailableError } from './proc';
export type { MongoTier, ServiceName } from './state';

/** Which services to have; omitted means all of them. */
export type ServicesRequest = Partial<Record<ServiceName, boolean>>;

/** How to reach the services (only those requested and available are set). */
export interface ConnectionInfo {
  mongodbUri?: string;
  mongoTier?: MongoTier;
  kafkaBrokers?: string[];
  redisUrl?: string;
  /** amqp://… of the RabbitMQ broker (Ceilometer's notifier over oslo.messaging's rabbit driver). */
  amqpUrl?: string;
  /** Services this call started (the others were reused or external). */
  started: ServiceName[];
  /** Services that could not be had, with the reason and how to get them (only with `tolerateFailures`). */
  errors: Partial<Record<ServiceName, string>>;
}

export interface EnsureOptions {
  /** Recorded as the owner of what gets started: 'cli', 'tests', 'demo'… (default 'cli'). */
  startedBy?: string;
  /** Report unavailable services in `errors` instead of throwing. */
  tolerateFailures?: boolean;
}

const starters: Record<ServiceName, (startedBy: string) => Promise<Endpoint>> = {
  kafka: ensureKafka,
  redis: ensureRedis,
  mongo: ensureMongo,
  rabbitmq: ensureRabbitMq,
};

function requested(request: ServicesRequest | undefined): ServiceName[] {
  if (!request || Object.keys(request).length === 0) return [...SERVICE_NAMES];
  return SERVICE_NAMES.filter((name) => request[name]);
}

/**
 * Have the requested services running and healthy (reusing running ones; external URLs from
 * MONGODB_URI / KAFKA_BROKERS / REDIS_URL are used as given) and say how to reach them.
 * Throws one error naming every service that could not be had, unless `tolerateFailures`.
 */
export async function ensureServices(request?: ServicesRequest, options: EnsureOptions = {}): Promise<ConnectionInfo> {
  const startedBy = options.startedBy ?? 'cli';
  const names = requested(request);
  const results = await Promise.allSettled(names.map((name) => starters[name](startedBy)));
  const info: ConnectionInfo = { started: [], errors: {} };
  results.forEach((result, i) => {
    const name = names[i]!;
    if (result.status === 'rejected') {
      const err = result.reason as Error;
      info.errors[name] = err instanceof ServiceUnavailableError ? err.message : `${name}: ${err.message}`;
      return;
    }
    const endpoint = result.value;
    if (endpoint.started) info.started.push(name);
    if (name === 'kafka') info.kafkaBrokers = endpoint.address.split(',');
    if (name === 'redis') info.redisUrl = endpoint.address;
    if (name === 'rabbitmq') info.amqpUrl = endpoint.address;
    if (name === 'mongo') {
      info.mongodbUri = endpoint.address;
      info.mongoTier = endpoint.tier;
    }
  });
  const failed = Object.entries(info.errors);
  if (failed.length > 0 && !options.tolerateFailures) {
    throw new ServiceUnavailableError(
      failed.map(([name]) => name).join(','),
      failed.map(([, message]) => message).join('\n'),
    );
  }
  return info;
}

/**
 * Stop managed services (never external ones). `onlyStartedBy` limits it to instances started by
 * that owner (the test setup stops only what test runs started). Returns the names stopped.
 */
export async function stopServices(names: ServiceName[] = [...SERVICE_NAMES], onlyStartedBy?: string): Promise<ServiceName[]> {
  const stopped = await Promise.all(names.map((name) => stopManaged(name, onlyStartedBy)));
  return names.filter((_, i) => stopped[i] !== undefined);
}

export interface ServiceStatus {
  service: ServiceName;
  /** running: managed and its pid alive; dead: recorded but gone; external: given by env; stopped. */
  state: 'running' | 'dead' | 'external' | 'stopped';
  address?: string;
  tier?: MongoTier;
  pid?: number;
  healthy: boolean;
  startedBy?: string;
  startedAt?: string;
  program?: string;
  logFile?: string;
}

const externalEnv: Record<ServiceName, string> = { kafka: 'KAFKA_BROKERS', redis: 'REDIS_URL', mongo: 'MONGODB_URI', rabbitmq: 'AMQP_URL' };

async function externalHealthy(name: ServiceName, address: string): Promise<{ healthy: boolean; tier?: MongoTier }> {
  try {
    if (name === 'mongo') return { healthy: true, tier: await detectMongoTier(address) };
    if (name === 'redis') {
      const url = new URL(address);
      return { healthy: await portOpen(Number(url.port || 6379), url.hostname) };
    }
    if (name === 'rabbitmq') {
      const url = new URL(address);
      return { healthy: await amqpHandshakeOk(Number(url.port || 5672), url.hostname) };
    }
    const [host, port] = address.split(',')[0]!.trim().split(':');
    return { healthy: await kafkaApiVersionsOk(Number(port), host) };
  } catch {
    return { healthy: false };
  }
}

/** Each service: where it is, tier, pid, and whether it answers right now. */
export async function servicesStatus(): Promise<ServiceStatus[]> {
  return Promise.all(
    SERVICE_NAMES.map(async (service): Promise<ServiceStatus> => {
      const external = process.env[externalEnv[service]];
      if (external) return { service, state: 'external', address: external, ...(await externalHealthy(service, external)) };
      const st = readState(service);
      if (!st) return { service, state: 'stopped', healthy: false };
      const alive = ownProcessAlive(st);
      let healthy = false;
      if (alive) {
        if (service === 'redis') healthy = await redisPing(st.ports[0]!);
        else if (service === 'kafka') healthy = await kafkaApiVersionsOk(st.ports[0]!);
        else if (service === 'rabbitmq') healthy = await amqpHandshakeOk(st.ports[0]!);
        else healthy = await detectMongoTier(st.address).then(() => true, () => false);
      }
      return {
        service,
        state: alive ? 'running' : 'dead',
        address: st.address,
        tier: st.tier,
        pid: st.pid,
        healthy,
        startedBy: st.startedBy,
        startedAt: st.startedAt,
        program: st.program,
        logFile: st.logFile,
      };
    }),
  );
}

// ---- leases: several test runs share one .services/ (one checkout, many engineers) ----

const LEASE_DIR = path.join(STATE_DIR, 'leases');

/** Record that process `pid` is using the services (until releaseLease). */
export function acquireLease(pid = process.pid): void {
  fs.mkdirSync(LEASE_DIR, { recursive: true });
  fs.writeFileSync(path.join(LEASE_DIR, String(pid)), new Date().toISOString());
}

/** Drop `pid`'s lease (and those of dead processes); returns how many live users remain. */
export function releaseLease(pid = process.pid): number {
  fs.rmSync(path.join(LEASE_DIR, String(pid)), { force: true });
  let live = 0;
  for (const entry of fs.existsSync(LEASE_DIR) ? fs.readdirSync(LEASE_DIR) : []) {
    if (pidAlive(Number(entry))) live += 1;
    else fs.rmSync(path.join(LEASE_DIR, entry), { force: true });
  }
  return live;
}
