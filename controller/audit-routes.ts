import type { RoutePlugin } from './server';
import type { AuditLog } from './audit';
import { errorSchema } from './http';
import { parseIsoInstant } from '../lib/instant';


/** `GET /v1/audit`: the audit log of admin actions (admin only), newest first. */
export function auditRoutes(audit: AuditLog): RoutePlugin {
  return (app) => {
    app.get(
      '/v1/audit',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'Audit log of admin actions (scaler actuation, invoice issue, licence changes, job retries, reloads…): who, what, when, outcome; newest first',
          tags: ['security'],
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              since: { type: 'string', description: 'ISO 8601: entries at or after' },
              until: { type: 'string', description: 'ISO 8601: entries before' },
              who: { type: 'string', description: 'token name or certificate principal' },
              action: { type: 'string', description: 'e.g. "POST /v1/invoices/:id/issue"' },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          },
          response: { 400: errorSchema },
        },
      },
      async (req, reply) => {
        const q = req.query as { since?: string; until?: string; who?: string; action?: string; limit?: number };
        for (const key of ['since', 'until'] as const) {
          const v = q[key];
          if (v !== undefined && Number.isNaN(parseIsoInstant(v))) {
            return reply.code(400).send({ error: 'bad-request', message: `${key}: expected an ISO 8601 date or date-time, got ${JSON.stringify(v)}` });
          }
        }
        const entries = await audit.list({
          since: q.since ? new Date(parseIsoInstant(q.since)) : undefined,
          until: q.until ? new Date(parseIsoInstant(q.until)) : undefined,
          who: q.who,
          action: q.action,
          limit: q.limit,
        });
        return { entries };
      },
    );
  };
}
