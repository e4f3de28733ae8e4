import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { productModules } from '../../app/modules';
import { makeSample, testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { redisUrl } from '../support/services';
import type { Sample } from '../../pipeline/sample';

/**
 * Tenant isolation on every route of the running product (issue 10): with project B's data in the
 * store, project A's scoped tokens (read and ingest) call every route the OpenAPI document lists, with
 * B's identifiers in paths, queries and bodies. No answer may carry B's data, none may be a 5xx, and no
 * write may create or change anything of B's.
 */

const iso = isolation(import.meta.url);
const T = {
  readA: 'read-token-tenant-routes-a-0001', ingestA: 'ingest-token-tenant-routes-a-01',
  ingestB: 'ingest-token-tenant-routes-b-01', admin: 'admin-token-tenant-routes-00001',
};
const VM_B = `vm-secret-of-b-${iso.id}`;

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});

let app: Application;
beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'a-read', token: T.readA, roles: ['read'], project: 'projA' },
          { name: 'a-ingest', token: T.ingestA, roles: ['ingest'], project: 'projA' },
          { name: 'b-ingest', token: T.ingestB, roles: ['ingest'], project: 'projB' },
          { name: 'admin', token: T.admin, roles: ['admin'] },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    redis: { url: redisUrl(), prefix: iso.queuePrefix() },
    mediation: { lateDataCheckSeconds: 0 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: productModules });
  const now = Date.now();
  const bSamples = ['cpu_util', 'memory.usage'].flatMap((name) =>
    Array.from({ length: 5 }, (_, i) => makeSample({ project_id: 'projB', resource_id: VM_B, counter_name: name, timestamp: new Date(now - (5 - i) * 60_000), resource_metadata: { display_name: 'b-secret-name' } })),
  );
  const res = await app.app.inject({ method: 'POST', url: '/v1/samples', payload: JSON.stringify(bSamples.map(asDict)), headers: { 'content-type': 'application/json', authorization: `Bearer ${T.ingestB}` } });
  expect(res.json()).toMatchObject({ stored: 10 });
}, 60_000);
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

interface Route { method: string; path: string }

describe("project A's tokens on every route", () => {
  it("never see B's data, never get a 5xx, and never change B's data", async () => {
    const spec = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const routes: Route[] = [];
    for (const [p, ops] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(ops)) if (!(Array.isArray(op.security) && op.security.length === 0)) routes.push({ method: method.toUpperCase(), path: p });
    expect(routes.length).toBeGreaterThanOrEqual(25);

    const resourceBefore = await app.services.db.collection('resource').findOne({ _id: VM_B as never });
    const meterBefore = await app.services.db.collection('meter').countDocuments({ project_id: 'projB' });
    const fill = (p: string) => p.replace(/\{[^}]+\}/g, encodeURIComponent(VM_B));
    const bodyFor = (p: string) =>
      p === '/v1/samples'
        ? JSON.stringify([asDict(makeSample({ project_id: 'projA', resource_id: VM_B })), asDict(makeSample({ project_id: 'projB', resource_id: VM_B }))])
        : JSON.stringify({ project_id: 'projB', projects: ['projB'], resource_id: VM_B, from: '2026-01-01', to: '2026-01-02', vm: VM_B });
    const checked: string[] = [];
    for (const r of routes) {
      for (const token of [T.readA, T.ingestA]) {
        const query = r.method === 'GET' ? `?project_id=projB&resource=cpu&vm=${encodeURIComponent(VM_B)}` : '';
        const res = await app.app.inject({
          method: r.method as 'GET',
          url: fill(r.path) + query,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(r.method === 'GET' ? {} : { payload: bodyFor(r.path) }),
        });
        const where = `${r.method} ${r.path} (${token === T.readA ? 'read' : 'ingest'} token of projA): ${res.statusCode} ${res.body.slice(0, 200)}`;
        expect(res.statusCode, where).toBeLessThan(500);
        expect(res.body.includes(VM_B) && res.statusCode < 300 && r.path !== '/v1/samples', where).toBe(false);
        expect(res.body.includes('b-secret-name'), where).toBe(false);
        if (res.statusCode < 300) expect(/"project_id":"projB"|"project":"projB"/.test(res.body), where).toBe(false);
        checked.push(`${r.method} ${r.path}`);
      }
    }
    // nothing of B's was created or changed by A
    expect(await app.services.db.collection('resource').findOne({ _id: VM_B as never })).toEqual(resourceBefore);
    expect(await app.services.db.collection('meter').countDocuments({ project_id: 'projB' })).toBe(meterBefore);
    expect(await app.services.db.collection('meter').countDocuments({ resource_id: VM_B, project_id: { $ne: 'projB' } })).toBe(0);
    expect(new Set(checked).size).toBe(routes.length);
  }, 120_000);
});
