import type { FastifyInstance } from 'fastify';
import { parseHttpBody, type NormalizeResult } from './ceilometer/normalize';
import type { IngestConfig } from './config';
import { BackpressureError, SubmissionTooLargeError } from './ingest/backpressure';
import type { Ingestor } from './ingest/ingestor';
import type { RejectInput } from './ingest/dead-letter';
import { canAccessProject, type Principal } from '../controller/auth';
import { principalOf, type RoutePlugin } from '../controller/server';
import { errorSchema } from '../controller/http';
import { appendHttpBody } from './durable/http';
import type { DurableLog } from './durable/log';

const rejectSchema = {
  type: 'object',
  properties: { index: { type: 'integer' }, reason: { type: 'string' }, message_id: { type: 'string' } },
  required: ['index', 'reason'],
} as const;

const resultSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'integer', description: 'valid samples taken in' },
    stored: { type: 'integer', description: 'newly stored' },
    duplicates: { type: 'integer', description: 'already stored before (redelivery), not stored again' },
    rejected: { type: 'integer', description: 'invalid samples, dead-lettered with their reason' },
    rejects: { type: 'array', items: rejectSchema, description: 'the first ingest.maxRejectsListed rejects, by position' },
    rejectsNotListed: { type: 'integer', description: 'rejects beyond ingest.maxRejectsListed, counted in rejectReasons' },
    rejectReasons: {
      type: 'array',
      description: 'rejects not listed one by one, counted per reason (only when rejectsNotListed > 0)',
      items: { type: 'object', properties: { reason: { type: 'string' }, count: { type: 'integer' } } },
    },
    acceptance: { type: 'string', enum: ['log', 'store'], description: 'log: durable in the Kafka ingest log (stored shortly after; stored/duplicates are then 0); store: written to MongoDB' },
  },
} as const;

type Listed = { index: number; reason: string; message_id?: string };

/** The answer's reject list, bounded: the first `max` one by one, the rest counted per reason. */
export function boundedRejects(all: Listed[], max: number): { rejects: Listed[]; rejectsNotListed?: number; rejectReasons?: Array<{ reason: string; count: number }> } {
  if (all.length <= max) return { rejects: all };
  const rest = all.slice(max);
  const byReason = new Map<string, number>();
  for (const r of rest) {
    let key = r.reason.length > 200 ? r.reason.slice(0, 197) + '...' : r.reason;
    if (!byReason.has(key) && byReason.size >= 50) key = '(other reasons)';
    byReason.set(key, (byReason.get(key) ?? 0) + 1);
  }
  return { rejects: all.slice(0, max), rejectsNotListed: rest.length, rejectReasons: [...byReason].map(([reason, count]) => ({ reason, count })) };
}

class RequestDeadline extends Error {}

/** `work`, or a RequestDeadline after `ms` (the work goes on: what it accepted is still written). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new RequestDeadline()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}


/**
 * Where each parsed sample stood in the request body: the parser keeps body order and leaves out
 * the items it rejected, so sample i is the i-th body position without a parser reject.
 */
function bodyPositions(parsed: NormalizeResult): number[] {
  const rejected = new Set(parsed.rejects.map((r) => r.index));
  const out: number[] = [];
  for (let i = 0; out.length < parsed.samples.length; i++) if (!rejected.has(i)) out.push(i);
  return out;
}

/** Samples of a project the token is not scoped to become per-sample rejects (at their body position). */
function applyProjectScope(parsed: NormalizeResult, positions: number[], principal: Principal): { parsed: NormalizeResult; positions: number[] } {
  const { project } = principal;
  if (project === undefined) return { parsed, positions };
  const samples = [];
  const kept: number[] = [];
  const rejects = [...parsed.rejects];
  for (const [i, s] of parsed.samples.entries()) {
    if (canAccessProject(principal, s.project_id)) {
      samples.push(s);
      kept.push(positions[i]!);
    } else {
      rejects.push({ index: positions[i]!, reason: `project_id: ${JSON.stringify(s.project_id)} is outside this token's project scope (${project})`, payload: JSON.stringify(s), message_id: s.message_id });
    }
  }
  return { parsed: { samples, rejects }, positions: kept };
}

/**
 * POST /v1/samples: the target of Ceilometer's `http://` publisher (a JSON list of `Sample.as_dict()`,
 * or one object with batch=False) and of signed `counter_*` messages. Answers 200 only after every
 * valid sample is durably stored (acceptance `store`: in MongoDB; `log`: in the Kafka ingest log, from
 * which the consumer stores it); invalid ones are dead-lettered and listed with their reason.
 * 400 when nothing in the body is usable, 413 too large, 429/503 with Retry-After under back-pressure.
 */
export function ingestRoutes(ingestor: Ingestor, ingest: IngestConfig, log?: DurableLog): RoutePlugin {
  return async (app: FastifyInstance) => {
    await app.register(async (scope) => {
      // Keep the raw bytes: invalid UTF-8 must be detected and float literals kept for signatures.
      scope.addContentTypeParser(['application/json', 'text/plain', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: ingest.maxBodyBytes }, (_req, body, done) => done(null, body));
      scope.post(
        '/v1/samples',
        {
          bodyLimit: ingest.maxBodyBytes,
          config: { roles: ['ingest'] },
          schema: {
            summary: "Ingest Ceilometer samples (http:// publisher body or signed counter_* messages)",
            tags: ['ingestion'],
            response: { 200: resultSchema, 400: resultSchema, 413: errorSchema, 429: errorSchema, 503: errorSchema },
          },
        },
        async (req, reply) => {
          const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(typeof req.body === 'string' ? req.body : '');
          // with the acceptance log the parse also hands over the body's items, which the log splits by resource
          const all = parseHttpBody(body, { secret: ingest.telemetrySecret, signaturePolicy: ingest.signaturePolicy, maxBodyBytes: ingest.maxBodyBytes, keepSource: log !== undefined });
          const items = all.samples.length + all.rejects.filter((r) => r.index >= 0).length;
          if (items > ingest.maxItemsPerBody) {
            return reply.code(413).send({ error: 'too large', message: `body holds ${items} sample items, over the limit of ${ingest.maxItemsPerBody} per request (ingest.maxItemsPerBody); nothing of it was taken, split it` });
          }
          const { parsed, positions } = applyProjectScope(all, bodyPositions(all), principalOf(req));
          const rejects: RejectInput[] = parsed.rejects;
          try {
            // acceptance `log`: 200 once the body is durable in the ingest log; the consumer stores it
            if (log) {
              const answer = await appendHttpBody(log, body, parsed, principalOf(req).project, all.source);
              ingestor.metrics.recordLogged('http', answer.accepted);
              return reply.code(parsed.samples.length === 0 && parsed.rejects.length > 0 ? 400 : 200).send(answer);
            }
            const submitted = ingestor.submit(parsed.samples, rejects);
            submitted.catch(() => undefined); // still observed below; after a deadline nobody waits on it
            const result = await withDeadline(submitted, ingest.requestTimeoutMs);
            const listed = [
              ...parsed.rejects.map((r) => ({ index: r.index, reason: r.reason, ...(r.message_id ? { message_id: r.message_id } : {}) })),
              ...result.refusals.map((r) => ({ ...r, index: positions[r.index] ?? r.index })),
            ].sort((a, b) => a.index - b.index);
            const status = parsed.samples.length === 0 && parsed.rejects.length > 0 ? 400 : 200;
            return reply.code(status).send({ accepted: result.accepted, stored: result.stored, duplicates: result.duplicates, rejected: result.rejected, ...boundedRejects(listed, ingest.maxRejectsListed) });
          } catch (err) {
            if (err instanceof BackpressureError) {
              return reply.code(err.status).header('retry-after', String(err.retryAfterSeconds)).send({ error: err.reason, message: err.message });
            }
            if (err instanceof SubmissionTooLargeError) return reply.code(413).send({ error: 'too large', message: err.message });
            if (err instanceof RequestDeadline) {
              const retry = Math.max(1, Math.ceil(ingest.retryMaxMs / 1000));
              return reply
                .code(503)
                .header('retry-after', String(retry))
                .send({ error: 'deadline', message: `the samples were not all written within ${ingest.requestTimeoutMs} ms (ingest.requestTimeoutMs); send the same body again: what did land counts as duplicates` });
            }
            throw err;
          }
        },
      );
    });
  };
}
