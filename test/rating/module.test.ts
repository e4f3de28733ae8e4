import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { jobsModule, type JobsModule } from '../../billing/jobs/module';
import { QUEUES } from '../../billing/jobs/queues';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { mongoTier, redisUrl } from '../support/services';
import { series } from './samples';

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-for-jobs-module';
const READ = 'read-token-for-jobs-module';
const P1 = 'p1-token-for-jobs-module';
const P2 = 'p2-token-for-jobs-module';
const dir = mkdtempSync(path.join(tmpdir(), 'jobs-module-'));
const planFile = path.join(dir, 'plan.yaml');
const GOOD_PLAN = 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: instance, model: per_unit, unit_price: "0.05"}]}\n';
// an unknown pricing model: the rating job fails with the located plan error
const BROKEN_PLAN = 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: instance, model: per_hour, unit_price: "0.05"}]}\n';

const tokens = [
  { name: 'ops', token: ADMIN, roles: ['admin'] },
  { name: 'dashboard', token: READ, roles: ['read'] },
  { name: 'tenant-p1', token: P1, roles: ['read'], project: 'p1' },
  { name: 'tenant-p2', token: P2, roles: ['read'], project: 'p2' },
];
const configFor = (redis: string, prefix: string, database: string) =>
  meteringConfig.parse({
    controller: { auth: { tokens } },
    store: testStoreConfig(database),
    ingest: testIngestConfig(),
    redis: { url: redis, prefix },
    mediation: { granularity: 'day', timezone: 'UTC', lateDataCheckSeconds: 0 },
    rating: { plan: planFile, billingPeriod: 'day', reportDir: path.join(dir, 'reports') },
  });

let app: Application;
const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });

/** Poll GET /v1/jobs/:id until the job completed or failed for good. */
async function settled(id: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await call('GET', `/v1/jobs/${encodeURIComponent(id)}`, READ);
    if (res.statusCode === 200) {
      const j = res.json();
      // the route reads the job, then its state: a job that completes in between shows completed without its result yet
      if ((j.state === 'completed' && j.result !== null) || (j.state === 'failed' && j.attempts >= j.maxAttempts)) return j;
    }
    if (Date.now() > until) throw new Error(`job ${id} did not settle: ${res.statusCode} ${res.body}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  writeFileSync(planFile, BROKEN_PLAN);
  app = await startApplication({ config: configFor(redisUrl(), iso.queuePrefix(), iso.dbName()), log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [jobsModule] });
  const meter = app.services.db.collection('meter');
  // p1: one instance all day (24 instance-hours); p2: one instance for the first 12 hours (deleted at noon: volume 0)
  const gauge = { counter_name: 'instance', counter_type: 'gauge' as const, counter_unit: 'instance' };
  await meter.insertMany([
    ...series('2026-01-01T00:00:00Z', 600, 144, () => 1, { ...gauge, project_id: 'p1', resource_id: 'vm-p1' }),
    ...series('2026-01-01T00:00:00Z', 600, 73, (i) => (i < 72 ? 1 : 0), { ...gauge, project_id: 'p2', resource_id: 'vm-p2', user_id: 'u2' }),
  ].map((s) => ({ ...s })));
});
afterAll(async () => {
  const jobs = app?.modules.find((m) => m.name === 'jobs') as JobsModule | undefined;
  for (const q of QUEUES) await jobs?.runtime.queues?.[q].obliterate({ force: true }).catch(() => undefined);
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('jobs module in the running product', () => {
  it('is ready with Redis, and says how mediation runs on this store', async () => {
    const res = await app.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.json().checks.redis).toEqual({ ok: true });
    const mode = (app.modules.find((m) => m.name === 'jobs') as JobsModule).runtime.mode;
    expect(mode.mode).toBe(mongoTier() === 'real' ? 'in-place' : 'in-node');
  });

  it('mediation job via the route → chained rating fails on a broken plan → retried after the fix, charging once', async () => {
    const day = { from: '2026-01-01', to: '2026-01-02' };
    const enq = await call('POST', '/v1/jobs/mediation', ADMIN, { ...day, rate: true });
    expect(enq.statusCode).toBe(202);
    const m = await settled(enq.json().id);
    expect(m.state).toBe('completed');
    expect(m.result).toMatchObject({ usageDocs: 2 });
    expect(m.progress).toBe(100);

    const ratingId = 'rating|day|UTC|2026-01-01T00_00_00.000Z|2026-01-02T00_00_00.000Z';
    const failed = await settled(ratingId);
    expect(failed.state).toBe('failed');
    expect(failed.failedReason).toMatch(/plan\.yaml:3: plans\[0\]\.charges\[0\]\.model/);
    expect(failed.attempts).toBe(3);

    writeFileSync(planFile, GOOD_PLAN);
    expect((await call('POST', `/v1/jobs/${encodeURIComponent(ratingId)}/retry`, ADMIN)).statusCode).toBe(202);
    const rated = await settled(ratingId);
    expect(rated.result).toEqual({ projects: [{ project_id: 'p1', total: '1.20', currency: 'EUR' }, { project_id: 'p2', total: '0.60', currency: 'EUR' }], unrated: 0 });

    // running the whole chain again replaces the lines: still one line per project
    const again = await call('POST', '/v1/jobs/mediation', ADMIN, day);
    await settled(again.json().id);
    expect((await settled(ratingId)).result.projects[0].total).toBe('1.20');
    expect(await app.services.db.collection('rated').countDocuments()).toBe(2);

    const list = await call('GET', '/v1/jobs?queue=rating&state=completed', READ);
    expect(list.json().jobs.map((j: { id: string }) => j.id)).toContain(ratingId);
    const metrics = (await call('GET', '/metrics', READ)).body;
    expect(metrics).toMatch(/^metering_jobs_rating_failed_total 1$/m);
    expect(metrics).toMatch(/^metering_jobs_mediation_completed_total 2$/m);
  });

  it('usage is project-scoped', async () => {
    const all = (await call('GET', '/v1/usage?from=2026-01-01&to=2026-01-02', READ)).json();
    expect(all.usage.map((u: { project_id: string }) => u.project_id).sort()).toEqual(['p1', 'p2']);
    const p1 = (await call('GET', '/v1/usage?from=2026-01-01&to=2026-01-02', P1)).json();
    expect(p1.usage.map((u: { project_id: string }) => u.project_id)).toEqual(['p1']);
    expect(p1.billable).toMatchObject([{ project_id: 'p1', meter: 'instance', quantity: '24', unit: 'instance-hours' }]);
    expect((await call('GET', '/v1/usage?project_id=p2', P1)).statusCode).toBe(403);
    expect((await call('GET', '/v1/usage?from=2026-02-30', READ)).statusCode).toBe(400);
    const csv = await call('GET', '/v1/reports/usage?format=csv', P2);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body).toContain('p2,instance,instance-hours,2026-01-01T00:00:00.000Z,12');
    expect(csv.body).not.toContain('p1,');
  });

  it('invoice job drafts from rated lines; invoices are project-scoped; an issued invoice is immutable (409)', async () => {
    const enq = await call('POST', '/v1/jobs/invoice', ADMIN, { from: '2026-01-01', to: '2026-01-02', project_id: 'p1' });
    expect(enq.statusCode).toBe(202);
    const done = await settled(enq.json().id);
    expect(done.result).toMatchObject({ status: 'draft', total: '1.20', currency: 'EUR', lines: 1 });
    const number = done.result.number as string;

    expect((await call('GET', '/v1/invoices', P2)).json().count).toBe(0);
    expect((await call('GET', `/v1/invoices/${number}`, P2)).statusCode).toBe(404);
    expect((await call('GET', '/v1/invoices?project_id=p1', P2)).statusCode).toBe(403);
    expect((await call('GET', `/v1/invoices/${number}`, P1)).json()).toMatchObject({ number, total: '1.20', status: 'draft' });
    expect((await call('POST', `/v1/invoices/${number}/issue`, READ)).statusCode).toBe(403);

    const issued = await call('POST', `/v1/invoices/${number}/issue`, ADMIN);
    expect(issued.json()).toMatchObject({ number, status: 'issued' });
    const second = await call('POST', `/v1/invoices/${number}/issue`, ADMIN);
    expect(second.statusCode).toBe(409);
    expect(second.json().message).toMatch(/is issued and cannot change/);

    // a re-run of the invoice job leaves the issued invoice as it was
    const rerun = await settled((await call('POST', '/v1/jobs/invoice', ADMIN, { from: '2026-01-01', to: '2026-01-02', project_id: 'p1' })).json().id);
    expect(rerun.result).toEqual({ number, status: 'already issued' });
    expect((await call('GET', `/v1/invoices/${number}`, ADMIN)).json()).toMatchObject({ status: 'issued', total: '1.20' });
    // the p1 tenant sees its own invoice job, but not the rating job over every project
    expect((await call('GET', `/v1/jobs/${encodeURIComponent(enq.json().id)}`, P1)).statusCode).toBe(200);
    expect((await call('GET', `/v1/jobs/${encodeURIComponent('rating|day|UTC|2026-01-01T00_00_00.000Z|2026-01-02T00_00_00.000Z')}`, P1)).statusCode).toBe(404);
  });

  it('rejects bad job requests with the field at fault', async () => {
    const partial = await call('POST', '/v1/jobs/mediation', ADMIN, { from: '2026-01-01T06:00:00Z', to: '2026-01-02' });
    expect(partial.statusCode).toBe(400);
    expect(partial.json().message).toMatch(/from: 2026-01-01T06:00:00.000Z is not the start of a day in UTC/);
    const two = await call('POST', '/v1/jobs/invoice', ADMIN, { from: '2026-01-01', to: '2026-01-02', project_id: 'p1', user: { project_id: 'p1', user_id: 'u' } });
    expect(two.json().message).toMatch(/exactly one of project_id, group, user/);
    expect((await call('POST', '/v1/jobs/report', READ, { from: '2026-01-01', to: '2026-01-02' })).statusCode).toBe(403);
  });
});

describe('jobs module without Redis', () => {
  it('starts anyway; readiness names the unreachable Redis and job routes answer 503', async () => {
    const other = await startApplication({ config: configFor('redis://127.0.0.1:1', 'none', iso.dbName('noredis')), log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [jobsModule] });
    try {
      const ready = await other.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.redis.error).toMatch(/redis at redis:\/\/127\.0\.0\.1:1 unreachable/);
      const res = await other.app.inject({ method: 'POST', url: '/v1/jobs/mediation', headers: { authorization: `Bearer ${ADMIN}` }, payload: { from: '2026-01-01', to: '2026-01-02' } });
      expect(res.statusCode).toBe(503);
      expect(res.json().message).toMatch(/job queues unavailable: redis at/);
      // the read side needs only MongoDB
      expect((await other.app.inject({ method: 'GET', url: '/v1/invoices', headers: { authorization: `Bearer ${READ}` } })).statusCode).toBe(200);
    } finally {
      await other.services.db.dropDatabase().catch(() => undefined);
      await other.close();
    }
  });
});
