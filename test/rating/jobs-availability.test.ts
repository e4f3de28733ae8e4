import pino from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { jobsModule, type JobsModule } from '../../billing/jobs/module';
import { RateLimitedWarn } from '../../billing/jobs/availability';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { CuttableProxy } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { redisUrl } from '../support/services';
import { ProductMetrics } from '../../controller/metrics';
import { connect } from '../pipeline/ingest/helpers';

/**
 * Issue 10, findings 5 and 6: job routes fail fast (503 + Retry-After within a second) while Redis is
 * unreachable, and logs stay readable; a jobs module that cannot start fails with the reason and leaves
 * no connection open behind it.
 */

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-for-jobs-availability';
let app: Application;
let proxy: CuttableProxy;
const lines: string[] = [];
const sink = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });

const configFor = (redis: string, over: Record<string, unknown> = {}) =>
  meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    redis: { url: redis, prefix: iso.queuePrefix() },
    mediation: { granularity: 'day', timezone: 'UTC', lateDataCheckSeconds: 0 },
    rating: { billingPeriod: 'day', reportDir: '/tmp/jobs-availability-reports', ...over },
  });
const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
const runtime = () => (app.modules.find((m) => m.name === 'jobs') as JobsModule).runtime;

beforeAll(async () => {
  const u = new URL(redisUrl());
  proxy = new CuttableProxy(u.hostname, Number(u.port));
  await proxy.up();
  app = await startApplication({ config: configFor(`redis://127.0.0.1:${proxy.port}`), log: pino({ level: 'warn' }, sink), listen: false, kafka: false, modules: [jobsModule] });
});
afterAll(async () => {
  await proxy?.up().catch(() => undefined);
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  await proxy?.down();
});

describe('Redis down (finding 5)', () => {
  it('job routes answer 503 with Retry-After within a second, readiness says why, logs are rate-limited; service resumes when Redis is back', async () => {
    expect(runtime().unavailable()).toBeUndefined();
    const body = { from: '2026-01-01', to: '2026-01-02', format: 'json' };
    expect((await call('POST', '/v1/jobs/report', body)).statusCode).toBe(202);

    await proxy.down();
    const logsBefore = lines.length;
    for (const [method, url, payload] of [['POST', '/v1/jobs/report', body], ['GET', '/v1/jobs'], ['GET', `/v1/jobs/${encodeURIComponent('report|day|UTC|x|y')}`], ['POST', '/v1/jobs/mediation', { from: '2026-01-01', to: '2026-01-02', rate: false }]] as const) {
      const t0 = Date.now();
      const res = await call(method, url, payload);
      const ms = Date.now() - t0;
      expect(res.statusCode, `${method} ${url}`).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.json().message).toMatch(/job queues unavailable/);
      expect(ms, `${method} ${url} answered in ${ms} ms`).toBeLessThan(1500);
    }
    const ready = await app.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.redis.ok).toBe(false);
    // several seconds of outage: BullMQ's queues, workers and the monitor reconnect many times
    await new Promise((r) => setTimeout(r, 3000));
    const outageLogs = lines.slice(logsBefore).filter((l) => /redis|queue|worker/i.test(l));
    expect(outageLogs.length, outageLogs.join('\n')).toBeLessThan(15);

    await proxy.up();
    const until = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < until && status !== 202) {
      status = (await call('POST', '/v1/jobs/report', { ...body, from: '2026-01-02', to: '2026-01-03' })).statusCode;
      if (status !== 202) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(202);
  });

  it('RateLimitedWarn logs a kind of warning once per interval and says how many it held back', () => {
    const out: Array<[Record<string, unknown>, string]> = [];
    let now = 0;
    const w = new RateLimitedWarn({ warn: ((o: Record<string, unknown>, m: string) => out.push([o, m])) as never }, 1000, () => now);
    for (let i = 0; i < 50; i++) w.warn('redis', { i }, 'down');
    now = 1500;
    w.warn('redis', {}, 'down');
    w.warn('other', {}, 'x');
    expect(out).toEqual([[{ i: 0 }, 'down'], [{ suppressed: 49, sinceMs: 1500 }, 'down'], [{}, 'x']]);
  });
});

describe('a jobs module that cannot start (finding 6)', () => {
  it('fails with the reason naming the setting and leaves no connection open', async () => {
    const client = await connect();
    const tcp = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = tcp();
    // a schedule BullMQ refuses, bypassing config validation (which refuses it with file:line)
    const config = configFor(redisUrl());
    config.rating.invoiceSchedule = '99 99 * * *';
    const started = Date.now();
    const err = await Promise.resolve(
      jobsModule({ config, log: pino({ level: 'silent' }), mongo: client, db: client.db(iso.dbName('nostart')), metrics: new ProductMetrics() }),
    ).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/jobs: cannot start the job queues on redis:\/\/.*\(rating.invoiceSchedule "99 99 \* \* \*"\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(tcp()).toBeLessThanOrEqual(before);
    await client.close();
  });
});
