import { describe, inject, it } from 'vitest';
import type { MongoTier, ServiceName } from '../../services/manager';

/** What test/support/global-setup.ts hands to every test file (vitest provide/inject). */
export interface ProvidedServices {
  mongodbUri?: string;
  mongoTier?: MongoTier;
  kafkaBrokers?: string[];
  redisUrl?: string;
  amqpUrl?: string;
  /** Services requested by the run (METERING_TEST_SERVICES). */
  requested: ServiceName[];
  /** Why a service could not be had, and how to get it. */
  errors: Partial<Record<ServiceName, string>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ProvidedServices;
  }
}

function provided(): ProvidedServices {
  return inject('services');
}

function unavailable(name: ServiceName): never {
  const p = provided();
  const why = p.errors[name]
    ?? (p.requested.includes(name) ? 'not started' : `not requested (METERING_TEST_SERVICES=${process.env.METERING_TEST_SERVICES ?? ''})`);
  throw new Error(`${name} is not available for this test run: ${why}`);
}

/** Connection string of the MongoDB for this run (real mongod or the stand-in, see mongoTier()). */
export function mongoUri(): string {
  return provided().mongodbUri ?? unavailable('mongo');
}

/** 'real' (mongod / MONGODB_URI) or 'standin' (mongo-java-server). */
export function mongoTier(): MongoTier {
  return provided().mongoTier ?? unavailable('mongo');
}

/** Kafka bootstrap brokers (host:port) for KafkaJS. */
export function kafkaBrokers(): string[] {
  return provided().kafkaBrokers ?? unavailable('kafka');
}

/** redis://host:port for ioredis / BullMQ. */
export function redisUrl(): string {
  return provided().redisUrl ?? unavailable('redis');
}

/** amqp://user:password@host:port of the run's RabbitMQ (AMQP_URL, or the managed rabbitmq-server). */
export function amqpUrl(): string {
  return provided().amqpUrl ?? unavailable('rabbitmq');
}

/** ioredis/BullMQ connection options for redisUrl() (BullMQ workers need maxRetriesPerRequest: null). */
export function redisConnection(): { host: string; port: number; password?: string; maxRetriesPerRequest: null } {
  const url = new URL(redisUrl());
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    maxRetriesPerRequest: null,
  };
}

export interface RealMongoGate {
  /** True when the run's MongoDB is the stand-in, so the guarded tests are skipped. */
  skip: boolean;
  reason?: string;
  /** `describe` that is skipped (with the reason printed) on the stand-in. */
  describe: typeof describe;
  /** `it` that is skipped (with the reason printed) on the stand-in. */
  it: typeof it;
}

/**
 * For tests that need a real mongod: on the stand-in tier, prints
 * `skipped on the MongoDB stand-in: needs <feature>` and returns a describe/it that skips.
 *
 *   const real = requireRealMongo('sharding (mongos)');
 *   real.describe('balancer', () => { ... });   // or describe.skipIf(real.skip)(...)
 */
export function requireRealMongo(feature: string): RealMongoGate {
  const skip = mongoTier() !== 'real';
  const reason = skip ? `skipped on the MongoDB stand-in: needs ${feature}` : undefined;
  if (reason) console.warn(reason);
  return { skip, reason, describe: describe.skipIf(skip) as typeof describe, it: it.skipIf(skip) as typeof it };
}

/**
 * The run's services as the environment variables the product reads (MONGODB_URI, KAFKA_BROKERS,
 * REDIS_URL), for tests that spawn the CLI: `spawnSync('node', [...], { env: { ...process.env, ...servicesEnv() } })`.
 * Only the available services are set.
 */
export function servicesEnv(): Record<string, string> {
  const p = provided();
  const env: Record<string, string> = {};
  if (p.mongodbUri) env.MONGODB_URI = p.mongodbUri;
  if (p.kafkaBrokers) env.KAFKA_BROKERS = p.kafkaBrokers.join(',');
  if (p.redisUrl) env.REDIS_URL = p.redisUrl;
  return env;
}
