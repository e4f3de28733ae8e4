import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db, Document } from 'mongodb';
import { z } from 'zod';
import { errorSchema, projectScope, refuseProject, zodMessage } from '../controller/http';
import { principalOf, type RoutePlugin } from '../controller/server';
import { COLLECTIONS, type ResourceDoc } from '../pipeline/store/layout';
import type { ConsoleAsset } from './bundle';
import type { ConsoleConfig } from './config';
import { chooseStep, MAX_WINDOW_S, seriesPoints, SeriesInputError, shownUnit, WINDOWS, type BucketAggregate } from './series';

/**
 * The console's routes:
 *   GET /ui, /ui/, /ui/:asset     the single-page application (public: it holds no data; it asks for a token)
 *   GET /v1/console/session       who the presented token is: name, roles, project scope (role read)
 *   GET /v1/series/catalog        resources with their meters, display names and projects (project-scoped)
 *   GET /v1/series                stored samples of chosen resources and one meter over a time window,
 *                                 cut in steps (avg/max for gauges, rate for cumulative counters)
 */

const anyObject = { type: 'object', additionalProperties: true } as const;
const MAX_RESOURCES = 50;
const MAX_CATALOG = 5000;

/** Browser hardening for the console's pages: same-origin everything, no framing, no referrer. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

const seriesQuery = z.strictObject({
  resource_id: z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => [...new Set((Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))]),
  meter: z.string().min(1),
  window: z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS, ...Array<keyof typeof WINDOWS>]).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  step: z.coerce.number().positive().optional(),
  project_id: z.string().min(1).optional(),
});

function send(reply: FastifyReply, asset: ConsoleAsset | undefined) {
  if (!asset) return reply.code(404).headers(SECURITY_HEADERS).type('text/plain').send('not found');
  return reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);
}

export function consoleRoutes(opts: { db: Db; config: ConsoleConfig; assets?: Map<string, ConsoleAsset> }): RoutePlugin {
  const { db, config, assets } = opts;
  return (app: FastifyInstance) => {
    if (assets) {
      const hidden = { hide: true } as const;
      app.get('/ui', { config: { public: true }, schema: hidden }, async (_req, reply) => reply.redirect('/ui/'));
      app.get('/ui/', { config: { public: true }, schema: hidden }, async (_req, reply) => send(reply, assets.get('index.html')));
      app.get('/ui/:asset', { config: { public: true }, schema: hidden }, async (req: FastifyRequest<{ Params: { asset: string } }>, reply) => send(reply, assets.get(req.params.asset)));
    }

    app.get(
      '/v1/console/session',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Who the presented token is (name, roles, project scope) and how often the console refreshes',
          tags: ['console'],
          response: { 200: { type: 'object', properties: { name: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } }, project: { type: ['string', 'null'] }, refresh_seconds: { type: 'integer' } } } },
        },
      },
      async (req) => {
        const p = principalOf(req);
        return { name: p.name, roles: [...p.roles].sort(), project: p.project ?? null, refresh_seconds: config.refreshSeconds };
      },
    );

    app.get(
      '/v1/series/catalog',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Resources that have stored samples, with their meters (name, type, unit), display name and project, most recently seen first',
          tags: ['console'],
          querystring: { type: 'object', properties: { project_id: { type: 'string' } } },
          response: { 200: anyObject, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: { project_id?: string } }>, reply) => {
        const principal = principalOf(req);
        const scope = projectScope(principal, req.query.project_id);
        if (scope === 'forbidden') return refuseProject(reply, principal, req.query.project_id!);
        const filter: Document = scope.project !== undefined ? { project_id: scope.project } : {};
        const docs = await db.collection<ResourceDoc>(COLLECTIONS.resource).find(filter).sort({ last_sample_timestamp: -1 }).limit(MAX_CATALOG).toArray();
        return {
          count: docs.length,
          truncated: docs.length === MAX_CATALOG,
          resources: docs.map((d) => ({
            resource_id: d._id,
            name: typeof d.metadata?.display_name === 'string' ? d.metadata.display_name : typeof d.metadata?.name === 'string' ? d.metadata.name : d._id,
            project_id: d.project_id,
            first_sample: d.first_sample_timestamp?.toISOString?.() ?? null,
            last_sample: d.last_sample_timestamp?.toISOString?.() ?? null,
            meters: (d.meter ?? []).map((m) => ({ name: m.counter_name, type: m.counter_type, unit: m.counter_unit })),
          })),
        };
      },
    );

    app.get(
      '/v1/series',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Stored samples of chosen resources and one meter over a time window, per step: average and max for gauges, rate per second for cumulative counters',
          tags: ['console'],
          querystring: {
            type: 'object',
            properties: {
              resource_id: { type: 'string', description: `comma-separated resource ids (at most ${MAX_RESOURCES})` },
              meter: { type: 'string', description: 'counter_name, e.g. cpu_util, memory.usage, network.incoming.bytes' },
              window: { type: 'string', enum: Object.keys(WINDOWS), description: 'a window ending at `to` (default 1h)' },
              from: { type: 'string', format: 'date-time', description: 'custom window start (instead of window)' },
              to: { type: 'string', format: 'date-time', description: 'window end (default: now)' },
              step: { type: 'number', description: 'seconds per point (default: about 200 points)' },
              project_id: { type: 'string' },
            },
            required: ['resource_id', 'meter'],
          },
          response: { 200: anyObject, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
        const parsed = seriesQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'query') });
        const q = parsed.data;
        const principal = principalOf(req);
        const scope = projectScope(principal, q.project_id);
        if (scope === 'forbidden') return refuseProject(reply, principal, q.project_id!);
        if (q.resource_id.length === 0 || q.resource_id.length > MAX_RESOURCES) return reply.code(400).send({ error: 'bad request', message: `resource_id: expected 1 to ${MAX_RESOURCES} resource ids, got ${q.resource_id.length}` });
        const to = q.to ? new Date(q.to) : new Date();
        const from = q.from ? new Date(q.from) : new Date(+to - WINDOWS[q.window ?? '1h'] * 1000);
        const windowS = (+to - +from) / 1000;
        if (!(windowS > 0)) return reply.code(400).send({ error: 'bad request', message: `from (${from.toISOString()}) must be before to (${to.toISOString()})` });
        if (windowS > MAX_WINDOW_S) return reply.code(400).send({ error: 'bad request', message: `window of ${Math.round(windowS / 86400)} days exceeds ${MAX_WINDOW_S / 86400} days` });
        let step: number;
        try {
          step = chooseStep(windowS, q.step);
        } catch (err) {
          if (err instanceof SeriesInputError) return reply.code(400).send({ error: 'bad request', message: err.message });
          throw err;
        }
        const stepMs = step * 1000;
        // The resource documents say each resource's project and the meter's type and unit; a
        // resource of another project is answered as if it did not exist.
        const rfilter: Document = { _id: { $in: q.resource_id } };
        if (scope.project !== undefined) rfilter.project_id = scope.project;
        const resources = await db.collection<ResourceDoc>(COLLECTIONS.resource).find(rfilter).toArray();
        const visible = resources.map((r) => r._id);
        const match: Document = { resource_id: { $in: visible }, counter_name: q.meter, timestamp: { $gte: from, $lt: to } };
        if (scope.project !== undefined) match.project_id = scope.project;
        const ms = { $toLong: '$timestamp' };
        const rows = visible.length
          ? await db
              .collection(COLLECTIONS.meter)
              .aggregate<{ _id: { r: string; b: number }; avg: number; max: number; min: number; n: number; last_v: number; last_t: Date }>([
                { $match: match },
                { $sort: { timestamp: 1 } },
                {
                  $group: {
                    _id: { r: '$resource_id', b: { $subtract: [ms, { $mod: [ms, stepMs] }] } },
                    avg: { $avg: '$counter_volume' },
                    max: { $max: '$counter_volume' },
                    min: { $min: '$counter_volume' },
                    n: { $sum: 1 },
                    last_v: { $last: '$counter_volume' },
                    last_t: { $last: '$timestamp' },
                  },
                },
              ])
              .toArray()
          : [];
        const byResource = new Map<string, BucketAggregate[]>();
        for (const r of rows) {
          const list = byResource.get(r._id.r) ?? [];
          list.push({ t: Number(r._id.b), avg: r.avg, max: r.max, min: r.min, n: r.n, last_v: r.last_v, last_t: +new Date(r.last_t) });
          byResource.set(r._id.r, list);
        }
        return {
          meter: q.meter,
          from: from.toISOString(),
          to: to.toISOString(),
          step_s: step,
          series: resources.map((r) => {
            const ref = (r.meter ?? []).find((m) => m.counter_name === q.meter);
            const kind = (ref?.counter_type ?? 'gauge') as 'gauge' | 'delta' | 'cumulative';
            const name = typeof r.metadata?.display_name === 'string' ? r.metadata.display_name : r._id;
            return { resource_id: r._id, name, project_id: r.project_id, type: kind, unit: shownUnit(kind, ref?.counter_unit ?? ''), points: seriesPoints(kind, byResource.get(r._id) ?? []) };
          }),
        };
      },
    );
  };
}
