import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringConfig } from '../../app/config';
import { productModules } from '../../app/modules';
import { startApplication, type Application } from '../../controller/app';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { redisUrl } from '../support/services';

/**
 * The audit log as an operator checks it: every mutating route of the running product (all its
 * modules, as `metering serve` mounts them) that only admin may call writes who, what, when and the
 * outcome, for a successful or failed call and for a refused one; the mutating routes other roles may
 * call are named here with the reason they are not admin actions, so a new one has to be classified.
 */
const iso = isolation(import.meta.url);
const ADMIN = 'audit-routes-admin-token-0001';
const READER = 'audit-routes-reader-token-001';

/** Mutating routes open to other roles: the routine traffic of ingestion, agents and planners, not admin actions. */
const NOT_ADMIN_ACTIONS: Record<string, string> = {
  'POST /v1/samples': 'ingestion (role ingest)',
  'POST /v1/onboarding/heat': 'a Heat hook registers a stack for estimation (role ingest)',
  'POST /v1/scaler/onboarding': 'a Heat hook announces expected load (role ingest)',
  'POST /v1/predictor/recommendation': 'a what-if computation that stores nothing (role read)',
  'POST /v1/agents/register': 'a host agent announcing itself at every start (role ingest; Redis only)',
};

let app: Application;
beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }, { name: 'planner', token: READER, roles: ['read', 'ingest'] }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    redis: { url: redisUrl(), prefix: iso.queuePrefix() },
    mediation: { lateDataCheckSeconds: 0 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: productModules });
}, 60_000);
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('audit of every admin action of the running product', () => {
  it('each mutating admin-only route records who, what, when and outcome; refused calls name who tried', async () => {
    await app.app.ready();
    const doc = app.app.swagger() as { paths: Record<string, Record<string, { description?: string }>> };
    const mutating = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([m]) => ['post', 'put', 'patch', 'delete'].includes(m))
        .map(([m, op]) => ({ action: `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`, url: p.replace(/\{(\w+)\}/g, 'audit-probe'), method: m.toUpperCase() as 'POST', adminOnly: /(^| )Roles: admin\.$/.test(op.description ?? '') })),
    );
    const admin = mutating.filter((r) => r.adminOnly);
    expect(mutating.filter((r) => !r.adminOnly).map((r) => r.action).sort()).toEqual(Object.keys(NOT_ADMIN_ACTIONS).sort());
    // the admin actions the issue names are among them (and whatever was added since)
    expect(admin.map((r) => r.action)).toEqual(expect.arrayContaining(['POST /v1/scaler/evaluate', 'POST /v1/invoices/:id/issue', 'POST /v1/licenses', 'POST /v1/jobs/:id/retry']));

    const t0 = new Date();
    for (const r of admin) {
      const refused = await app.app.inject({ method: r.method, url: r.url, payload: {}, headers: { authorization: `Bearer ${READER}` } });
      expect(refused.statusCode, r.action).toBe(403);
      const done = await app.app.inject({ method: r.method, url: r.url, payload: {}, headers: { authorization: `Bearer ${ADMIN}` } });
      const res = await app.app.inject({ url: `/v1/audit?action=${encodeURIComponent(r.action)}&since=${t0.toISOString()}`, headers: { authorization: `Bearer ${ADMIN}` } });
      const entries = res.json().entries as Array<{ who: string | null; via: string | null; action: string; at: string; outcome: string; status?: number; target: Record<string, unknown> }>;
      expect(entries.map((e) => [e.who, e.via, e.outcome, e.status]), r.action).toEqual([
        ['ops', 'token', done.statusCode < 400 ? 'ok' : 'failed', done.statusCode],
        ['planner', 'token', 'refused', 403],
      ]);
      for (const e of entries) expect(Date.parse(e.at), r.action).toBeGreaterThanOrEqual(+t0);
      if (r.url.includes('audit-probe')) expect(Object.values(entries[0]!.target), r.action).toContain('audit-probe');
    }
  }, 120_000);
});
