import { afterEach, describe, expect, it } from 'vitest';
import { ensureServices, servicesStatus } from '../../services/manager';
import { freePort } from '../../services/proc';
import { isolation } from '../support/isolation';
import { kafkaBrokers, mongoTier, mongoUri, redisUrl } from '../support/services';

const saved = { ...process.env };
afterEach(() => {
  for (const key of ['REDIS_URL', 'KAFKA_BROKERS', 'MONGODB_URI', 'METERING_MONGO_TIER']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('services manager', () => {
  it('reuses the running, healthy services instead of starting new ones', async () => {
    const info = await ensureServices({}, { startedBy: 'tests' });
    expect(info.started).toEqual([]);
    expect(info.redisUrl).toBe(redisUrl());
    expect(info.kafkaBrokers).toEqual(kafkaBrokers());
    expect(info.mongodbUri).toBe(mongoUri());
    expect(info.mongoTier).toBe(mongoTier());
  });

  it('reports each running service as healthy with its address', async () => {
    const status = await servicesStatus();
    const byName = Object.fromEntries(status.map((s) => [s.service, s]));
    for (const name of ['kafka', 'redis', 'mongo'] as const) expect(byName[name]?.healthy, name).toBe(true);
    expect(byName.redis?.address).toBe(redisUrl());
    expect(byName.mongo?.tier).toBe(mongoTier());
  });

  it('names the service and the variable when an external URL does not answer', async () => {
    const port = await freePort();
    process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
    await expect(ensureServices({ redis: true })).rejects.toThrow(`REDIS_URL=redis://127.0.0.1:${port} is set but nothing answers`);
  });

  it('rejects a malformed KAFKA_BROKERS with the expected form', async () => {
    process.env.KAFKA_BROKERS = 'localhost';
    await expect(ensureServices({ kafka: true })).rejects.toThrow('KAFKA_BROKERS=localhost: expected host:port[,host:port...]');
  });

  it('rejects an unknown METERING_MONGO_TIER', async () => {
    process.env.METERING_MONGO_TIER = 'cloud';
    await expect(ensureServices({ mongo: true })).rejects.toThrow('METERING_MONGO_TIER=cloud: expected real or standin');
  });

  it('reports several unavailable services in one error, or per service when tolerated', async () => {
    process.env.KAFKA_BROKERS = 'nope';
    process.env.METERING_MONGO_TIER = 'bad';
    const info = await ensureServices({ kafka: true, mongo: true, redis: true }, { tolerateFailures: true });
    expect(Object.keys(info.errors).sort()).toEqual(['kafka', 'mongo']);
    expect(info.redisUrl).toBe(redisUrl());
  });
});

describe('per-file isolation names', () => {
  it('are unique per call and valid as MongoDB database, Kafka topic and BullMQ prefix names', () => {
    const long = 'file:///x/a-very-long-test-file-name.with.dots and spaces.for-isolation-checks.test.ts';
    const a = isolation(long);
    const b = isolation(long);
    expect(a.id).not.toBe(b.id);
    expect(a.dbName('ingest')).not.toBe(b.dbName('ingest'));
    for (const name of [a.dbName(), a.dbName('a label with spaces $ and . dots that is rather long indeed')]) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      expect(name).not.toMatch(/[/\\. "$*<>:|?]/);
    }
    expect(a.topic('samples.v1')).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(a.queuePrefix()).not.toContain(':');
    expect(a.groupId('x')).not.toBe(a.groupId('y'));
  });
});
