import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Db } from 'mongodb';
import { z } from 'zod';
import type { Principal } from '../controller/auth';
import { errorSchema, projectScope, refuseProject } from '../controller/http';
import { principalOf, type RoutePlugin } from '../controller/server';
import type { AlertStore } from './alerts';
import type { LiveState } from './cluster-evaluator';
import type { ComplianceConfig } from './config';
import { validateLicense, type License } from './license';
import type { ComplianceMonitor } from './monitor';
import { recordJson, verifyChain, type LicenseRecord, type LicenseRepository } from './repository';
import { buildReport, renderReport, REPORT_FORMATS, scopeReport, type ComplianceReport } from './report';
import { evaluateStore, seriesFromStore } from './store-reader';

/**
 * Routes of licence compliance. Licence records are immutable: POST creates a licence or a new
 * version of it; there is no route that updates or deletes one. Reports are read-only (GET).
 *
 *   POST /v1/licenses                       admin: record a licence (new id → v1, changed → next version, same → nothing)
 *   GET  /v1/licenses                       read: the latest version of every licence, in licence order
 *   GET  /v1/licenses/:id                   read: its latest version
 *   GET  /v1/licenses/:id/versions          read: every version, oldest first, and the hash-chain check
 *   GET  /v1/compliance                     read: the live rules' latest evaluation (as the report's JSON)
 *   GET  /v1/compliance/alerts              read: alerts, newest first (open and resolved)
 *   GET  /v1/compliance/report              read: the report at ?at= from the store, json | csv | html
 *
 * A project-scoped token sees the licences restricted to its project (`match.project_id`), findings
 * about its project's instances, and the alerts of its project.
 */

export interface ComplianceRouteOptions {
  config: ComplianceConfig;
  db: Db;
  monitor: ComplianceMonitor;
  licenses: LicenseRepository;
  alerts: AlertStore;
  record(license: License, by: string): Promise<{ record: LicenseRecord; created: boolean }>;
  /** Set with several controllers: the cluster's latest evaluation, answered the same by every controller. */
  cluster?: { live(): Promise<LiveState | undefined> };
}

const anyObject = { type: 'object', additionalProperties: true } as const;
const recordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    version: { type: 'integer' },
    license: { ...anyObject, description: 'the licence as recorded (licenses.yaml schema)' },
    hash: { type: 'string', description: 'SHA-256 of the licence (canonical JSON)' },
    prev_hash: { type: ['string', 'null'], description: 'record_hash of the previous version' },
    record_hash: { type: 'string' },
    created_by: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: ['open', 'resolved'] },
    kind: { type: 'string' },
    license_id: { type: ['string', 'null'] },
    resource_id: { type: ['string', 'null'] },
    project_id: { type: ['string', 'null'] },
    assigned: {},
    actual: {},
    opened_at: { type: 'string' },
    resolved_at: { type: ['string', 'null'] },
    samples: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, timestamp: { type: 'string' } } } },
  },
} as const;

const visibleLicense = (p: Principal, l: License) => p.project === undefined || l.match.project_id === p.project;

const isoInstant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/, 'expected an ISO 8601 date-time with a zone (e.g. 2026-06-01T12:00:00Z) or a date')
  .transform((s) => new Date(s.length === 10 ? `${s}T00:00:00Z` : s))
  .refine((d) => !Number.isNaN(d.getTime()), 'not a valid date');

const reportQuery = z.strictObject({
  at: isoInstant.optional(),
  format: z.enum(REPORT_FORMATS).default('json'),
  hours: z.coerce.number().positive().max(24 * 366).default(24),
  points: z.coerce.number().int().min(2).max(500).default(48),
  project_id: z.string().min(1).optional(),
});

const alertsQuery = z.strictObject({
  state: z.enum(['open', 'resolved']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  project_id: z.string().min(1).optional(),
});

const badRequest = (reply: FastifyReply, err: z.ZodError, where: string) =>
  reply.code(400).send({ error: 'bad request', message: err.issues.map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`).join('; ') });

export function complianceRoutes(opts: ComplianceRouteOptions): RoutePlugin {
  const { config, db, monitor, licenses, alerts } = opts;
  /** With a cluster: the store evaluated at the cluster evaluator's latest T (one at a time, shared by the requests for it). */
  let clusterView: { key: string; ev: ReturnType<typeof evaluateStore> } | undefined;
  return (app: FastifyInstance) => {
    app.post(
      '/v1/licenses',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'Record a licence: a new id becomes version 1, a changed licence the next version (with who and when), an identical one changes nothing; records are never updated or deleted',
          tags: ['compliance'],
          body: { ...anyObject, description: 'one licence: id, product, match {project_id?, resource_ids?}, cores, cores_per_instance?, architecture?, cpu_models?, valid_from?, valid_to?' },
          response: { 200: { type: 'object', properties: { created: { type: 'boolean' }, record: recordSchema } }, 201: { type: 'object', properties: { created: { type: 'boolean' }, record: recordSchema } }, 400: errorSchema },
        },
      },
      async (req, reply) => {
        const v = validateLicense(req.body);
        if (!v.ok) return reply.code(400).send({ error: 'bad request', message: v.issues.map((i) => `body${i.path ? `.${i.path}` : ''}: ${i.message}`).join('; '), issues: v.issues });
        const r = await opts.record(v.license, principalOf(req).name);
        return reply.code(r.created ? 201 : 200).send({ created: r.created, record: recordJson(r.record) });
      },
    );

    app.get(
      '/v1/licenses',
      {
        config: { roles: ['read'] },
        schema: { summary: 'The latest version of every licence, in licence order (the order instances are matched in)', tags: ['compliance'], response: { 200: { type: 'object', properties: { licenses: { type: 'array', items: recordSchema } } } } },
      },
      async (req) => {
        const p = principalOf(req);
        return { licenses: (await licenses.latest()).filter((r) => visibleLicense(p, r.license)).map(recordJson) };
      },
    );

    app.get(
      '/v1/licenses/:id',
      {
        config: { roles: ['read'] },
        schema: { summary: "A licence's latest version", tags: ['compliance'], params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, response: { 200: recordSchema, 404: errorSchema } },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const r = await licenses.latestOf(id);
        if (!r || !visibleLicense(principalOf(req), r.license)) return reply.code(404).send({ error: 'not found', message: `no licence ${id}` });
        return recordJson(r);
      },
    );

    app.get(
      '/v1/licenses/:id/versions',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "Every version of a licence, oldest first, with the check of its hash chain (a record changed or removed in the store shows as a problem)",
          tags: ['compliance'],
          params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          response: {
            200: { type: 'object', properties: { id: { type: 'string' }, versions: { type: 'array', items: recordSchema }, chain: { type: 'object', properties: { ok: { type: 'boolean' }, problems: { type: 'array', items: { type: 'string' } } } } } },
            404: errorSchema,
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const versions = await licenses.versions(id);
        const latest = versions[versions.length - 1];
        if (!latest || !visibleLicense(principalOf(req), latest.license)) return reply.code(404).send({ error: 'not found', message: `no licence ${id}` });
        return { id, versions: versions.map(recordJson), chain: verifyChain(versions) };
      },
    );

    const scoped = (r: ComplianceReport, project: string | undefined) => (project === undefined ? r : scopeReport(r, project));

    app.get(
      '/v1/compliance',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "The live licence rules' latest evaluation (T = newest sample seen): violations, licences, unverified instances, instances with the samples they rest on",
          tags: ['compliance'],
          querystring: { type: 'object', properties: { project_id: { type: 'string' } } },
          response: { 200: anyObject, 403: errorSchema },
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        const { project_id } = req.query as { project_id?: string };
        const scope = projectScope(p, project_id);
        if (scope === 'forbidden') return refuseProject(reply, p, project_id!);
        if (opts.cluster) {
          // every controller re-evaluates the store at the T the cluster's evaluator recorded: the same answer anywhere
          const live = await opts.cluster.live();
          const openCount = await alerts.countOpen(scope.project);
          if (!live) return { evaluated: false, open_alerts: openCount, stats: { evaluations: 0 } };
          const list = (await licenses.latest()).map((r) => r.license);
          // the store's answer at that T with those licences does not change: evaluated once, not per request
          const key = `${live.at.getTime()}|${live.evaluations}|${live.controller}|${JSON.stringify(list)}`;
          if (clusterView?.key !== key) clusterView = { key, ev: evaluateStore(db, list, { at: live.at, activeWindowS: config.active_window_s }) };
          const pending = clusterView;
          const ev = await pending.ev.catch((err: unknown) => {
            if (clusterView === pending) clusterView = undefined; // a failed evaluation is not kept
            throw err;
          });
          const report = buildReport(list, ev, undefined, { licenses: 'store', samples: `store:${db.databaseName}.meter at the cluster evaluator's T` }, live.evaluated_at);
          const stats = { evaluations: live.evaluations, evaluated_by: live.controller, fencing_token: live.token, evaluated_at: live.evaluated_at.toISOString() };
          return { evaluated: true, open_alerts: openCount, stats, ...scoped(report, scope.project) };
        }
        const e = monitor.lastEvaluation;
        const open = monitor.openAlerts.filter((a) => scope.project === undefined || a.project_id === scope.project).length;
        if (!e) return { evaluated: false, open_alerts: open, stats: monitor.stats };
        const report = buildReport(monitor.licenseList, e, undefined, { licenses: 'store', samples: 'live sample stream' });
        return { evaluated: true, open_alerts: open, stats: monitor.stats, ...scoped(report, scope.project) };
      },
    );

    app.get(
      '/v1/compliance/alerts',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Compliance alerts, newest first: raised when a violation is first seen, resolved when it ends',
          tags: ['compliance'],
          querystring: { type: 'object', properties: { state: { type: 'string', enum: ['open', 'resolved'] }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, project_id: { type: 'string' } } },
          response: { 200: { type: 'object', properties: { open: { type: 'integer' }, alerts: { type: 'array', items: alertSchema } } }, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req, reply) => {
        const q = alertsQuery.safeParse(req.query);
        if (!q.success) return badRequest(reply, q.error, 'query');
        const p = principalOf(req);
        const scope = projectScope(p, q.data.project_id);
        if (scope === 'forbidden') return refuseProject(reply, p, q.data.project_id!);
        const list = await alerts.list({ ...(q.data.state ? { state: q.data.state } : {}), ...(scope.project !== undefined ? { project: scope.project } : {}), limit: q.data.limit });
        const open = opts.cluster ? await alerts.countOpen(scope.project) : monitor.openAlerts.filter((a) => scope.project === undefined || a.project_id === scope.project).length;
        return { open, alerts: list };
      },
    );

    app.get(
      '/v1/compliance/report',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Read-only compliance report at ?at= (default: the newest stored sample) from the store: violations, licences, unverified instances and the samples (ids, times) they rest on, with vCPUs used vs licensed over time; JSON, CSV or HTML with a chart',
          tags: ['compliance'],
          querystring: {
            type: 'object',
            properties: {
              at: { type: 'string', description: 'ISO 8601 instant (default: newest stored sample)' },
              format: { type: 'string', enum: [...REPORT_FORMATS], default: 'json' },
              hours: { type: 'number', description: 'span of the chart before T (default 24)' },
              points: { type: 'integer', description: 'points of the chart (default 48)' },
              project_id: { type: 'string' },
            },
          },
          response: { 400: errorSchema, 403: errorSchema },
        },
      },
      async (req, reply) => {
        const q = reportQuery.safeParse(req.query);
        if (!q.success) return badRequest(reply, q.error, 'query');
        const p = principalOf(req);
        const scope = projectScope(p, q.data.project_id);
        if (scope === 'forbidden') return refuseProject(reply, p, q.data.project_id!);
        const records = await licenses.latest();
        const list = records.map((r) => r.license);
        const e = await evaluateStore(db, list, { ...(q.data.at ? { at: q.data.at } : {}), activeWindowS: config.active_window_s });
        const series = await seriesFromStore(db, list, { at: e.at, activeWindowS: config.active_window_s, spanS: q.data.hours * 3600, points: q.data.points });
        const report = buildReport(list, e, series, { licenses: 'store', samples: `store:${db.databaseName}.meter`, license_versions: records.map((r) => ({ id: r.id, version: r.version, hash: r.hash })) });
        const { body, contentType } = renderReport(scoped(report, scope.project), q.data.format);
        return reply.type(contentType).send(body);
      },
    );
  };
}

