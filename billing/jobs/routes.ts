import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { MeteringConfig } from '../../app/config';
import { canAccessProject, type Principal } from '../../controller/auth';
import { principalOf, type RoutePlugin } from '../../controller/server';
import { accountProjects, type Account } from '../invoices/invoice';
import { mediationOptions } from '../mediation/options';
import { GRANULARITIES, isValidTimeZone, parseDateInZone, type Granularity } from '../mediation/periods';
import { loadPlanFile } from '../rating/plan';
import { isWholeBillingRange } from './cycle';
import type { JobsRuntime } from './runtime';
import { QUEUES, enqueue, jobId, type QueueName, type QueueSet } from './queues';
import { errorSchema } from '../../controller/http';
import { QueueDeadline, queuesUnavailable, withinDeadline } from './availability';

/**
 * Batch job routes (BullMQ on Redis):
 *
 *   POST /v1/jobs/mediation|rating|invoice|report   (admin) enqueue; 202 {id, queue, state}
 *   GET  /v1/jobs/:id                               (read)  state, progress, result, failedReason, attempts
 *   GET  /v1/jobs?state=&queue=&limit=              (read)  recent jobs
 *   POST /v1/jobs/:id/retry                         (admin) retry a failed job
 *
 * Job ids are deterministic (`kind|granularity|tz|from|to[|account]`), so enqueueing a range that is
 * already waiting returns the same id. A project-scoped token only sees jobs of its own project
 * (invoice jobs of the project, mediation jobs limited to it); jobs over all projects answer 404.
 */

const anyObject = { type: 'object', additionalProperties: true } as const;
const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    queue: { type: 'string', enum: [...QUEUES] },
    name: { type: 'string' },
    state: { type: 'string', description: 'waiting, active, delayed, prioritized, completed, failed or unknown' },
    progress: { description: 'percent done (number) or the processor’s progress object' },
    data: anyObject,
    result: { description: 'the processor’s return value once completed' },
    failedReason: { type: ['string', 'null'] },
    attempts: { type: 'integer', description: 'attempts made so far' },
    maxAttempts: { type: 'integer' },
    createdAt: { type: ['string', 'null'] },
    processedAt: { type: ['string', 'null'] },
    finishedAt: { type: ['string', 'null'] },
  },
} as const;

export const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;
const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

/** The most recent jobs of one queue or all, in one state or any, newest first (the API's and the CLI's job list). */
export async function recentJobs(queues: QueueSet, o: { queue?: QueueName; state?: (typeof STATES)[number]; limit: number; visible?: (data: object) => boolean }) {
  const out = [];
  for (const name of o.queue ? [o.queue] : QUEUES) {
    for (const j of await queues[name].getJobs(o.state ? [o.state] : [...STATES], 0, o.limit - 1)) {
      if (j && (!o.visible || o.visible(j.data as object))) out.push(await jobJson(name, j));
    }
  }
  return out.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '')).slice(0, o.limit);
}

export async function jobJson(queue: QueueName, job: Job) {
  return {
    id: job.id!, queue, name: job.name, state: await job.getState(), progress: job.progress, data: job.data as object,
    result: job.returnvalue ?? null, failedReason: job.failedReason ?? null, attempts: job.attemptsMade, maxAttempts: job.opts.attempts ?? 1,
    createdAt: iso(job.timestamp), processedAt: iso(job.processedOn), finishedAt: iso(job.finishedOn),
  };
}

/** The projects a job concerns, or undefined for all projects. */
function jobProjects(data: { account?: Account; projects?: string[] }): string[] | undefined {
  if (data.account) return accountProjects(data.account);
  return data.projects?.length ? data.projects : undefined;
}

export function canSeeJob(principal: Principal, data: object): boolean {
  if (principal.project === undefined) return true;
  const projects = jobProjects(data as { account?: Account; projects?: string[] });
  return projects !== undefined && projects.every((p) => canAccessProject(principal, p));
}

export const queueOfJobId = (id: string): QueueName | undefined => (QUEUES as readonly string[]).includes(id.split('|')[0]!) ? (id.split('|')[0] as QueueName) : undefined;

const range = z.object({
  from: z.string().min(1),
  to: z.string().min(1),
  granularity: z.enum(GRANULARITIES).optional(),
  timezone: z.string().refine(isValidTimeZone, 'unknown time zone').optional(),
});
const bodies = {
  mediation: range.extend({ carrySeconds: z.number().nonnegative().optional(), projects: z.array(z.string().min(1)).optional(), rate: z.boolean().optional() }).strict(),
  rating: range.extend({ billingPeriod: z.enum(GRANULARITIES).optional() }).strict(),
  invoice: range
    .extend({
      project_id: z.string().min(1).optional(),
      group: z.strictObject({ name: z.string().min(1), projects: z.array(z.string().min(1)).min(1) }).optional(),
      user: z.strictObject({ project_id: z.string().min(1), user_id: z.string().min(1) }).optional(),
      currency: z.string().regex(/^[A-Z]{3}$/).optional(),
      issue: z.boolean().optional(),
    })
    .strict()
    .refine((b) => [b.project_id, b.group, b.user].filter((x) => x !== undefined).length === 1, 'give exactly one of project_id, group, user'),
  report: range.extend({ format: z.enum(['json', 'csv', 'html']).optional() }).strict(),
};

const bodySchema = {
  type: 'object',
  required: ['from', 'to'],
  properties: {
    from: { type: 'string', description: 'first period start: YYYY-MM-DD (midnight in timezone) or ISO timestamp' },
    to: { type: 'string', description: 'end of the last period (exclusive)' },
    granularity: { type: 'string', enum: [...GRANULARITIES], description: 'period unit (default mediation.granularity; invoices: rating.billingPeriod, the invoice covers whole periods of it)' },
    timezone: { type: 'string', description: 'IANA zone (default mediation.timezone)' },
    carrySeconds: { type: 'number', description: 'mediation: gauge carry / counter baseline limit (default mediation.carrySeconds)' },
    projects: { type: 'array', items: { type: 'string' }, description: 'mediation: only these projects' },
    rate: { type: 'boolean', description: 'mediation: chain the rating of the billing periods touched (default: when rating.plan exists)' },
    billingPeriod: { type: 'string', enum: [...GRANULARITIES], description: 'rating: roll up to this period before pricing (default rating.billingPeriod)' },
    project_id: { type: 'string', description: 'invoice: the project billed' },
    group: { type: 'object', properties: { name: { type: 'string' }, projects: { type: 'array', items: { type: 'string' } } }, description: 'invoice: a group of projects billed together' },
    user: { type: 'object', properties: { project_id: { type: 'string' }, user_id: { type: 'string' } }, description: 'invoice: one user of a project (lines rated per user)' },
    currency: { type: 'string', description: 'invoice: currency (default the plan’s)' },
    issue: { type: 'boolean', description: 'invoice: issue it after drafting (default false: stays a draft)' },
    format: { type: 'string', enum: ['json', 'csv', 'html'], description: 'report: file format (default html)' },
  },
} as const;

class BadRequest extends Error {}

function issueText(e: z.ZodError): string {
  return e.issues.map((i) => `body${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; ');
}

const date = (name: string, v: string, tz: string) => {
  try {
    return parseDateInZone(v, tz);
  } catch (err) {
    throw new BadRequest(`body.${name}: ${(err as Error).message}`);
  }
};

/** Validate a request and turn it into the job's data; every error names the body field. */
export function jobDataFor(kind: QueueName, raw: unknown, config: MeteringConfig, runtime: Pick<JobsRuntime, 'mode'>, planExists: (f: string) => boolean) {
  const parsed = bodies[kind].safeParse(raw ?? {});
  if (!parsed.success) throw new BadRequest(issueText(parsed.error));
  const b = parsed.data as z.infer<typeof range> & Record<string, unknown>;
  const timezone = b.timezone ?? config.mediation.timezone;
  const billing = (b.billingPeriod as Granularity | undefined) ?? config.rating.billingPeriod;
  const granularity: Granularity = b.granularity ?? (kind === 'invoice' ? billing : config.mediation.granularity);
  const from = date('from', b.from, timezone);
  const to = date('to', b.to, timezone);
  try {
    mediationOptions({ from, to, granularity, timezone });
  } catch (err) {
    throw new BadRequest(`body.${(err as Error).message}`);
  }
  // an invoice covers whole periods of its own granularity (checked above); rating writes lines per billing period
  if (kind === 'rating' && !isWholeBillingRange(from, to, billing, timezone)) {
    throw new BadRequest(`body: ${from.toISOString()} → ${to.toISOString()} is not a whole number of ${billing} billing periods in ${timezone} (rated lines are per billing period)`);
  }
  const base = { from: from.toISOString(), to: to.toISOString(), granularity, timezone };
  switch (kind) {
    case 'mediation': {
      const rate = (b.rate as boolean | undefined) ?? planExists(config.rating.plan);
      return {
        ...base, carrySeconds: (b.carrySeconds as number | undefined) ?? config.mediation.carrySeconds,
        ...(b.projects ? { projects: b.projects as string[] } : {}),
        ...(runtime.mode.mode === 'in-node' ? { inNode: true } : {}),
        ...(rate ? { thenRate: { planFile: config.rating.plan, billingPeriod: billing } } : {}),
      };
    }
    case 'rating':
      return { ...base, planFile: config.rating.plan, ...(billing !== granularity ? { billingPeriod: billing } : {}) };
    case 'invoice': {
      const account: Account = b.project_id
        ? { kind: 'project', project_id: b.project_id as string }
        : b.group
          ? { kind: 'group', group: (b.group as { name: string }).name, projects: (b.group as { projects: string[] }).projects }
          : { kind: 'user', ...(b.user as { project_id: string; user_id: string }) };
      let currency = b.currency as string | undefined;
      if (!currency) {
        try {
          currency = loadPlanFile(config.rating.plan).currency;
        } catch (err) {
          throw new BadRequest(`body.currency: not given, and the plan's currency is unreadable: ${(err as Error).message}`);
        }
      }
      return { ...base, account, currency, ...(b.issue ? { issue: true } : {}) };
    }
    case 'report': {
      const format = (b.format as 'json' | 'csv' | 'html' | undefined) ?? 'html';
      const name = jobId('report', base).replace(/[^A-Za-z0-9_.=-]+/g, '_');
      return { ...base, format, out: path.join(config.rating.reportDir, `${name}.${format}`) };
    }
  }
}

/** Run a job route's queue work; a Redis that stops answering mid-request gives 503 + Retry-After, not a hang. */
async function guarded(reply: FastifyReply, work: () => Promise<unknown>): Promise<unknown> {
  try {
    return await withinDeadline(work());
  } catch (err) {
    if (err instanceof QueueDeadline) return queuesUnavailable(reply, err.message);
    throw err;
  }
}

export function jobRoutes(runtime: JobsRuntime, config: MeteringConfig): RoutePlugin {
  const queuesOr = (reply: FastifyReply): QueueSet | undefined => {
    const q = runtime.queues;
    const why = runtime.unavailable();
    if (!q || why) {
      void queuesUnavailable(reply, why ?? 'not started');
      return undefined;
    }
    return q;
  };
  return (app: FastifyInstance) => {
    for (const kind of QUEUES) {
      app.post(
        `/v1/jobs/${kind}`,
        {
          config: { roles: ['admin'] },
          schema: {
            summary: {
              mediation: 'Enqueue mediation of whole periods (in place, or read into Node on a store without $setWindowFields), chaining the rating of the billing periods touched',
              rating: 'Enqueue rating of mediated usage (whole billing periods) with the configured price plan',
              invoice: 'Enqueue drafting (and optionally issuing) an invoice for a project, group or user from the rated lines',
              report: 'Enqueue a usage trend report (JSON, CSV or HTML file in rating.reportDir)',
            }[kind],
            tags: ['jobs'],
            body: bodySchema,
            response: {
              202: { type: 'object', properties: { id: { type: 'string' }, queue: { type: 'string' }, state: { type: 'string' }, mode: { type: 'string' } } },
              400: errorSchema,
              503: errorSchema,
            },
          },
        },
        async (req: FastifyRequest<{ Body: unknown }>, reply) => {
          let data;
          try {
            data = jobDataFor(kind, req.body, config, runtime, existsSync);
          } catch (err) {
            if (err instanceof BadRequest) return reply.code(400).send({ error: 'bad request', message: err.message });
            throw err;
          }
          const queues = queuesOr(reply);
          if (!queues) return reply;
          return guarded(reply, async () => {
            const id = await enqueue(queues, kind, data as never);
            runtime.counters.enqueued++;
            const job = await queues[kind].getJob(id);
            return reply.code(202).send({ id, queue: kind, state: job ? await job.getState() : 'unknown', ...(kind === 'mediation' ? { mode: runtime.mode.mode } : {}) });
          });
        },
      );
    }

    app.get(
      '/v1/jobs/:id',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'A job: state, progress, result or failure reason, attempts',
          tags: ['jobs'],
          params: { type: 'object', properties: { id: { type: 'string', description: 'job id as returned by POST /v1/jobs/… (URL-encoded)' } }, required: ['id'] },
          response: { 200: jobSchema, 404: errorSchema, 503: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const queues = queuesOr(reply);
        if (!queues) return reply;
        return guarded(reply, async () => {
          const queue = queueOfJobId(req.params.id);
          const job = queue ? await queues[queue].getJob(req.params.id) : undefined;
          if (!queue || !job || !canSeeJob(principalOf(req), job.data as object)) return reply.code(404).send({ error: 'not found', message: `no job ${req.params.id}` });
          return jobJson(queue, job);
        });
      },
    );

    app.get(
      '/v1/jobs',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Recent jobs of every queue (or one), optionally in one state',
          tags: ['jobs'],
          querystring: {
            type: 'object',
            properties: {
              state: { type: 'string', enum: [...STATES] },
              queue: { type: 'string', enum: [...QUEUES] },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          },
          response: { 200: { type: 'object', properties: { count: { type: 'integer' }, jobs: { type: 'array', items: jobSchema } } }, 503: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Querystring: { state?: (typeof STATES)[number]; queue?: QueueName; limit?: number } }>, reply) => {
        const queues = queuesOr(reply);
        if (!queues) return reply;
        const principal = principalOf(req);
        return guarded(reply, async () => {
          const jobs = await recentJobs(queues, { ...req.query, limit: req.query.limit ?? 100, visible: (data) => canSeeJob(principal, data) });
          return { count: jobs.length, jobs };
        });
      },
    );

    app.post(
      '/v1/jobs/:id/retry',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'Retry a failed job (results are replaced, never added to)',
          tags: ['jobs'],
          params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          response: { 202: jobSchema, 404: errorSchema, 409: errorSchema, 503: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const queues = queuesOr(reply);
        if (!queues) return reply;
        return guarded(reply, async () => {
          const queue = queueOfJobId(req.params.id);
          const job = queue ? await queues[queue].getJob(req.params.id) : undefined;
          if (!queue || !job) return reply.code(404).send({ error: 'not found', message: `no job ${req.params.id}` });
          const state = await job.getState();
          if (state !== 'failed') return reply.code(409).send({ error: 'conflict', message: `job ${job.id} is ${state}, only failed jobs can be retried` });
          await job.retry('failed');
          return reply.code(202).send(await jobJson(queue, (await queues[queue].getJob(req.params.id)) ?? job));
        });
      },
    );
  };
}
