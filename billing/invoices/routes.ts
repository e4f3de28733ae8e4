import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db, Document } from 'mongodb';
import type { MeteringConfig } from '../../app/config';
import { canAccessProject, type Principal } from '../../controller/auth';
import { principalOf, type RoutePlugin } from '../../controller/server';
import { billableUsage } from '../mediation/billable';
import { GRANULARITIES, isValidTimeZone, parseDateInZone, type Granularity } from '../mediation/periods';
import type { UsageDoc } from '../mediation/usage-doc';
import { accountProjects } from './invoice';
import { MongoInvoiceRepository } from './mongo-repository';
import { trendsToCsv, trendsToHtml, usageTrends } from './report';
import { InvoiceImmutableError, StaleDraftError } from './errors';
import { errorSchema, projectScope, refuseProject as forbidden } from '../../controller/http';
import { loadPlanFile } from '../rating/plan';
import { isWholeBillingRange } from '../jobs/cycle';
import { readLedger, reconcileFromSamples } from './audit';
import { readCurrent } from '../mediation/runs';
import { tolerantDb } from '../../pipeline/store/read-options';

/**
 * Read-side routes over mediated usage, invoices and reports (role read, project-scoped: a token
 * bound to a project sees only that project; asking for another answers 403, another project's
 * invoice 404), and issuing an invoice (admin; an issued invoice answers 409 to a second issue).
 *
 *   GET  /v1/usage?project_id=&meter=&from=&to=&granularity=&timezone=
 *   GET  /v1/invoices?project_id=&status=
 *   GET  /v1/invoices/:id
 *   POST /v1/invoices/:id/issue
 *   GET  /v1/reports/usage?project_id=&from=&to=&format=json|csv|html
 */

const anyObject = { type: 'object', additionalProperties: true } as const;
const MAX_USAGE_DOCS = 10_000;

const rangeQuery = {
  project_id: { type: 'string', description: 'only this project (a project-scoped token: its own by default)' },
  from: { type: 'string', description: 'first period start: YYYY-MM-DD (midnight in timezone) or ISO timestamp' },
  to: { type: 'string', description: 'periods starting before this instant' },
  granularity: { type: 'string', enum: [...GRANULARITIES], description: 'mediated period unit (default mediation.granularity)' },
  timezone: { type: 'string', description: 'zone the periods were cut in (default mediation.timezone)' },
} as const;

interface RangeQuery {
  project_id?: string;
  meter?: string;
  from?: string;
  to?: string;
  granularity?: Granularity;
  timezone?: string;
}

class BadQuery extends Error {}

/** The projects a request may read: its project_id if allowed, else the token's project, else all (undefined). */
function scope(principal: Principal, projectId: string | undefined): string[] | undefined | 'forbidden' {
  const s = projectScope(principal, projectId);
  return s === 'forbidden' ? s : s.project !== undefined ? [s.project] : undefined;
}

function usageFilter(q: RangeQuery, projects: string[] | undefined, config: MeteringConfig): Document {
  const timezone = q.timezone ?? config.mediation.timezone;
  if (!isValidTimeZone(timezone)) throw new BadQuery(`timezone: unknown time zone "${timezone}"`);
  const filter: Document = { granularity: q.granularity ?? config.mediation.granularity, timezone };
  const at = (k: 'from' | 'to') => {
    try {
      return parseDateInZone(q[k]!, timezone);
    } catch (err) {
      throw new BadQuery(`${k}: ${(err as Error).message}`);
    }
  };
  if (q.from || q.to) filter.period_start = { ...(q.from ? { $gte: at('from') } : {}), ...(q.to ? { $lt: at('to') } : {}) };
  if (projects) filter.project_id = { $in: projects };
  if (q.meter) filter.meter = q.meter;
  return filter;
}

export function billingRoutes(opts: { db: Db; config: MeteringConfig }): RoutePlugin {
  const { db, config } = opts;
  const repo = new MongoInvoiceRepository(db, config.rating.invoicePrefix);

  /** The usage a range query may read, or undefined once it has answered 403 or 400. */
  const reportsDb = tolerantDb(db, config.store.reads, 'reports');
  const scopedUsage = async (req: FastifyRequest<{ Querystring: RangeQuery }>, reply: FastifyReply, from: Db = db): Promise<{ projects: string[] | undefined; docs: UsageDoc[] } | undefined> => {
    const principal = principalOf(req);
    const projects = scope(principal, req.query.project_id);
    if (projects === 'forbidden') {
      void forbidden(reply, principal, req.query.project_id!);
      return undefined;
    }
    let filter: Document;
    try {
      filter = usageFilter(req.query, projects, config);
    } catch (err) {
      if (!(err instanceof BadQuery)) throw err;
      void reply.code(400).send({ error: 'bad request', message: err.message });
      return undefined;
    }
    // only the current mediation runs (pointers in `runs`), read consistently
    const range = filter.period_start as { $gte?: Date; $lt?: Date } | undefined;
    const docs = await readCurrent(from, { kind: config.mediation.into, granularity: filter.granularity, timezone: filter.timezone }, range?.$gte, range?.$lt && range.$gte ? range.$lt : undefined, (runs) =>
      from.collection<UsageDoc>(config.mediation.into).find({ ...filter, run: { $in: runs } }).sort({ period_start: 1, project_id: 1, meter: 1, resource_id: 1 }).limit(MAX_USAGE_DOCS).toArray(),
    );
    return { projects, docs };
  };
  return (app: FastifyInstance) => {
    app.get(
      '/v1/usage',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Mediated usage per period, resource and meter (statistics, time-weighted gauges, counter deltas) with the billable quantity',
          tags: ['rating'],
          querystring: { type: 'object', properties: { ...rangeQuery, meter: { type: 'string', description: 'only this meter (counter_name)' } } },
          response: {
            200: { type: 'object', properties: { count: { type: 'integer' }, truncated: { type: 'boolean' }, usage: { type: 'array', items: anyObject }, billable: { type: 'array', items: anyObject } } },
            400: errorSchema,
            403: errorSchema,
          },
        },
      },
      async (req: FastifyRequest<{ Querystring: RangeQuery }>, reply) => {
        const read = await scopedUsage(req, reply);
        if (!read) return reply;
        const { docs } = read;
        return { count: docs.length, truncated: docs.length === MAX_USAGE_DOCS, usage: docs, billable: billableUsage(docs) };
      },
    );

    app.get(
      '/v1/invoices',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Invoices (drafts and issued), newest period first',
          tags: ['rating'],
          querystring: { type: 'object', properties: { project_id: rangeQuery.project_id, status: { type: 'string', enum: ['draft', 'issued'] } } },
          response: { 200: { type: 'object', properties: { count: { type: 'integer' }, invoices: { type: 'array', items: anyObject } } }, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: { project_id?: string; status?: 'draft' | 'issued' } }>, reply) => {
        const principal = principalOf(req);
        const projects = scope(principal, req.query.project_id);
        if (projects === 'forbidden') return forbidden(reply, principal, req.query.project_id!);
        const invoices = await repo.list({ ...(projects ? { projects } : {}), ...(req.query.status ? { status: req.query.status } : {}) });
        return { count: invoices.length, invoices };
      },
    );

    const visibleInvoice = async (principal: Principal, id: string) => {
      const inv = await repo.get(id);
      return inv && accountProjects(inv.account).every((p) => canAccessProject(principal, p)) ? inv : undefined;
    };

    app.get(
      '/v1/invoices/:id',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'One invoice: line items, credits, debits, adjustments, total, status',
          tags: ['rating'],
          params: { type: 'object', properties: { id: { type: 'string', description: 'invoice number, e.g. INV-000001' } }, required: ['id'] },
          response: { 200: anyObject, 404: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const inv = await visibleInvoice(principalOf(req), req.params.id);
        if (!inv) return reply.code(404).send({ error: 'not found', message: `no invoice ${req.params.id}` });
        return inv;
      },
    );

    app.post(
      '/v1/invoices/:id/issue',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'Issue a draft invoice; from then on it never changes (409 when already issued; corrections go on the next invoice)',
          tags: ['rating'],
          params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          response: { 200: anyObject, 404: errorSchema, 409: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        try {
          return await repo.issue(req.params.id);
        } catch (err) {
          if (err instanceof InvoiceImmutableError || err instanceof StaleDraftError) return reply.code(409).send({ error: 'conflict', message: err.message });
          if (/^no invoice /.test((err as Error).message)) return reply.code(404).send({ error: 'not found', message: (err as Error).message });
          throw err;
        }
      },
    );

    app.get(
      '/v1/ledger',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Billing ledger per account: every invoice, line, correction, credit and debit with the usage period it bills, and what waits for the next invoice',
          tags: ['rating'],
          querystring: { type: 'object', properties: { project_id: rangeQuery.project_id } },
          response: { 200: { type: 'object', properties: { accounts: { type: 'array', items: anyObject } } }, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: { project_id?: string } }>, reply) => {
        const principal = principalOf(req);
        const projects = scope(principal, req.query.project_id);
        if (projects === 'forbidden') return forbidden(reply, principal, req.query.project_id!);
        const accounts = await readLedger(db, { ...(projects ? { projects } : {}), invoicePrefix: config.rating.invoicePrefix });
        // a group account is visible only to tokens that may see every project of it
        return { accounts: accounts.filter((a) => a.projects.every((p) => canAccessProject(principal, p))) };
      },
    );

    app.get(
      '/v1/ledger/reconciliation',
      {
        // it reads every raw sample of the range: an operator's tool, not something any reader may start at will
        config: { roles: ['admin'] },
        schema: {
          summary: 'Recompute whole billing periods from the raw samples with the price plan and compare with what was billed for them (difference per project and period; zero is the goal)',
          tags: ['rating'],
          querystring: { type: 'object', required: ['from', 'to'], properties: { project_id: rangeQuery.project_id, from: rangeQuery.from, to: rangeQuery.to } },
          response: { 200: anyObject, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: { project_id?: string; from: string; to: string } }>, reply) => {
        const principal = principalOf(req);
        const projects = scope(principal, req.query.project_id);
        if (projects === 'forbidden') return forbidden(reply, principal, req.query.project_id!);
        const tz = config.mediation.timezone;
        let from: Date;
        let to: Date;
        let book;
        try {
          from = parseDateInZone(req.query.from, tz);
          to = parseDateInZone(req.query.to, tz);
          if (!isWholeBillingRange(from, to, config.rating.billingPeriod, tz) || to <= from) throw new Error(`from/to: ${from.toISOString()} → ${to.toISOString()} is not a whole number of ${config.rating.billingPeriod} billing periods in ${tz}`);
          book = loadPlanFile(config.rating.plan);
        } catch (err) {
          return reply.code(400).send({ error: 'bad request', message: (err as Error).message });
        }
        return reconcileFromSamples(db, {
          from, to, granularity: config.mediation.granularity, timezone: tz, carrySeconds: config.mediation.carrySeconds,
          billingPeriod: config.rating.billingPeriod, book, invoicePrefix: config.rating.invoicePrefix, ...(projects ? { projects } : {}),
        });
      },
    );

    app.get(
      '/v1/reports/usage',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Usage trend report per project and meter: JSON, CSV, or a self-contained HTML page with SVG charts',
          tags: ['rating'],
          querystring: { type: 'object', properties: { ...rangeQuery, format: { type: 'string', enum: ['json', 'csv', 'html'], default: 'json' } } },
          response: { 200: { description: 'the report (application/json, text/csv or text/html)', ...anyObject }, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: RangeQuery & { format?: 'json' | 'csv' | 'html' } }>, reply) => {
        const read = await scopedUsage(req, reply, reportsDb);
        if (!read) return reply;
        const { projects, docs } = read;
        const report = usageTrends(billableUsage(docs));
        const format = req.query.format ?? 'json';
        if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(trendsToCsv(report));
        if (format === 'html') return reply.type('text/html; charset=utf-8').send(trendsToHtml(report, projects ? `Usage trends: ${projects.join(', ')}` : 'Usage trends'));
        return report;
      },
    );
  };
}
