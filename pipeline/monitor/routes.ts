import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db, Document } from 'mongodb';
import { z } from 'zod';
import type { MeteringConfig } from '../../app/config';
import type { Principal } from '../../controller/auth';
import { errorSchema, projectScope, refuseProject, zodMessage } from '../../controller/http';
import { principalOf, type RoutePlugin } from '../../controller/server';
import { COLLECTIONS } from '../store/layout';
import type { DeadLetterDoc } from '../ingest/dead-letter';
import type { PipelineMonitor } from './monitor';
import { reasonClass } from './reasons';
import { reconcile, reconcileWindow, ReconcileInputError } from './reconcile';

/**
 * The pipeline watching itself, over HTTP (role read):
 *   GET /v1/pipeline/status             rates per transport, consumer lag, batch latency, freshness,
 *                                       dead letters by reason, back-pressure (operators: unscoped tokens)
 *   GET /v1/pipeline/dead-letters       the dead letters, newest first, optionally of one reason class
 *   GET /v1/pipeline/reconciliation     ledger vs store per resource and hour (project-scoped)
 * Status and dead letters mix every project's traffic, so a project-scoped token is refused (403).
 */

const anyObject = { type: 'object', additionalProperties: true } as const;
const PAYLOAD_SHOWN = 2048;

const deadLetterQuery = z.strictObject({
  reason: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]{0,39}$/, 'expected a reason class such as timestamp, message_signature, store_refused, other').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional(),
});

const reconcileQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  project_id: z.string().min(1).optional(),
});

function operatorsOnly(principal: Principal, reply: FastifyReply): boolean {
  if (principal.project === undefined) return true;
  void reply.code(403).send({ error: 'forbidden', message: `token "${principal.name}" is scoped to project ${principal.project}; the pipeline's status covers every project's traffic and needs an unscoped token` });
  return false;
}

/** Filter of the dead letters of one reason class (the field at fault is the reason's prefix). */
function reasonFilter(cls: string): Document {
  if (cls === 'store_refused') return { reason: /^the store refused/ };
  if (cls === 'other') return { reason: { $not: /^([A-Za-z_][A-Za-z0-9_.]{0,39}:|the store refused)/ } };
  return { reason: new RegExp(`^${cls.replace(/\./g, '\\.')}:`) };
}

export function monitorRoutes(opts: { monitor: PipelineMonitor; db: Db; config: MeteringConfig }): RoutePlugin {
  const { monitor, db, config } = opts;
  return (app: FastifyInstance) => {
    app.get(
      '/v1/pipeline/status',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'The pipeline watching itself: ingest rate per transport, consumer lag per partition, batch latency, end-to-end freshness, dead letters by reason, back-pressure',
          tags: ['pipeline'],
          response: { 200: anyObject, 403: errorSchema },
        },
      },
      async (req, reply) => {
        if (!operatorsOnly(principalOf(req), reply)) return reply;
        return monitor.status();
      },
    );

    app.get(
      '/v1/pipeline/dead-letters',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Dead letters, newest first (reason, source, Kafka position, the payload cut to 2 KiB), optionally of one reason class',
          tags: ['pipeline'],
          querystring: {
            type: 'object',
            properties: {
              reason: { type: 'string', description: 'reason class: the field at fault (timestamp, message_signature, body…), store_refused or other' },
              limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
              before: { type: 'string', format: 'date-time', description: 'only letters received before this instant (paging)' },
            },
          },
          response: { 200: anyObject, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
        if (!operatorsOnly(principalOf(req), reply)) return reply;
        const parsed = deadLetterQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'query') });
        const q = parsed.data;
        const filter: Document = { ...(q.reason ? reasonFilter(q.reason) : {}), ...(q.before ? { received_at: { $lt: new Date(q.before) } } : {}) };
        const docs = await db.collection<DeadLetterDoc>(COLLECTIONS.deadLetter).find(filter).sort({ received_at: -1 }).limit(q.limit).toArray();
        return {
          count: docs.length,
          letters: docs.map((d) => ({
            id: d._id,
            received_at: d.received_at.toISOString(),
            source: d.source,
            ...(d.topic !== undefined ? { topic: d.topic, partition: d.partition, offset: d.offset } : {}),
            index: d.index,
            reason_class: reasonClass(d.reason),
            reason: d.reason,
            message_id: d.message_id ?? null,
            payload: d.payload.length > PAYLOAD_SHOWN ? d.payload.slice(0, PAYLOAD_SHOWN) : d.payload,
            payload_truncated: d.payload.length > PAYLOAD_SHOWN,
          })),
        };
      },
    );

    app.get(
      '/v1/pipeline/reconciliation',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Reconciliation: per resource and hour, samples the ingestion ledger counted as stored vs samples the store holds, with every difference (missing = lost after acknowledgement, unaccounted = stored around the pipeline)',
          tags: ['pipeline'],
          querystring: {
            type: 'object',
            properties: {
              from: { type: 'string', format: 'date-time', description: 'first hour (rounded down; default: 24 h before to)' },
              to: { type: 'string', format: 'date-time', description: 'end (rounded up to the hour; default: end of the current hour)' },
              project_id: { type: 'string', description: 'only this project (a project-scoped token: its own)' },
            },
          },
          response: { 200: anyObject, 400: errorSchema, 403: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
        const parsed = reconcileQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'query') });
        const q = parsed.data;
        const principal = principalOf(req);
        const scope = projectScope(principal, q.project_id);
        if (scope === 'forbidden') return refuseProject(reply, principal, q.project_id!);
        let window;
        try {
          window = reconcileWindow({ ...(q.from ? { from: new Date(q.from) } : {}), ...(q.to ? { to: new Date(q.to) } : {}), maxHours: config.monitor.reconcileMaxHours, ttlSeconds: config.store.ttlSeconds });
        } catch (err) {
          if (err instanceof ReconcileInputError) return reply.code(400).send({ error: 'bad request', message: err.message });
          throw err;
        }
        const flushNote = await monitor.flushLedger();
        if (flushNote) window.notes.push(flushNote);
        const result = await reconcile(db, { window, ...(scope.project !== undefined ? { project: scope.project } : {}), maxRows: config.monitor.reconcileMaxRows });
        if (scope.project === undefined) monitor.recordReconciliation(result);
        return result;
      },
    );
  };
}
