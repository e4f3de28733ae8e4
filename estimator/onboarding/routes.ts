import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from 'mongodb';
import { z } from 'zod';
import type { AppServices } from '../../controller/app';
import { canAccessProject } from '../../controller/auth';
import { principalOf, type RoutePlugin } from '../../controller/server';
import type { EstimatorConfig } from '../config';
import { estimateJson } from '../estimate';
import type { DbStats, SizeModel, SizeTracker } from '../event-size';
import type { PollingConfig } from '../polling';
import { collectedIn } from './collected';
import { compare, expectedFor, PERIOD_NAMES, periodSeconds } from './compare';
import type { Profiler } from '../../profiler/profiler';
import { predictSetup, handToScaler, type OnboardingRecommendation } from './recommend';
import { estimateOnboarding, onboardingBody, TemplateError, templateHash } from './request';
import { sizeModelRecord, type PredictionRecord, type PredictionStore } from './store';
import { errorSchema, projectScope, refuseProject as forbidden, zodMessage as describeError } from '../../controller/http';

/**
 * Heat onboarding and the planners' view of stored predictions.
 *
 *   POST /v1/onboarding/heat                       (ingest|admin) estimate a stack, store the prediction
 *   GET  /v1/predictions?stack_id=&project_id=&limit=&offset=   (read) newest first
 *   GET  /v1/predictions/:id                       (read)
 *   GET  /v1/predictions/:id/compare?period=day|week|month[&by=project|stack][&start=ISO]   (read)
 *
 * Project scope: a project-scoped token may onboard and see only its own project; another project's
 * prediction answers 404 as if it did not exist, asking for another project_id answers 403.
 */

export interface OnboardingRouteDeps {
  services: AppServices;
  store: PredictionStore;
  db: Db;
  tracker: SizeTracker;
  config: EstimatorConfig;
  /** Read once at start-up (the configured file or the embedded default). */
  pollingConfig: PollingConfig;
  /** The live profiler, once the application has started (undefined without a profiler module). */
  profiler?: () => Profiler | undefined;
}


const stringList = { type: 'array', items: { type: 'string' } } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;

const periodFigures = {
  type: 'object',
  properties: { per_day: { type: 'number' }, per_week: { type: 'number' }, per_month: { type: 'number' } },
  additionalProperties: true,
} as const;

const estimateSchema = {
  type: 'object',
  description: 'the estimate, same JSON shape as `metering estimate --json`',
  additionalProperties: true,
  properties: {
    stack: { type: 'string' },
    template: { type: 'string' },
    resources: { type: 'object', additionalProperties: { type: 'number' } },
    meters: { type: 'array', items: { type: 'object', additionalProperties: true } },
    events: { ...periodFigures, properties: { ...periodFigures.properties, interval_s: { type: 'number' }, per_interval: { type: 'number' } } },
    avg_event_bytes: { type: 'number' },
    avg_event_bytes_mean_of_meters: { type: 'number' },
    size_method: { type: 'string' },
    bytes: periodFigures,
    warnings: stringList,
  },
} as const;

const recommendationSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    summary: { type: 'string', description: 'the recommended store setup in one line, or "no recommendation: predictor unavailable (why)"' },
    setup: { type: ['object', 'null'], additionalProperties: true, description: "the profiler's offline resource predictor answer (shards, replicas, placement, explanation)" },
    scaler: { type: 'object', additionalProperties: true, description: "the estimate handed to the autoscaler for predictive scale-out: registered, arrives_at, trigger_at, bytes_per_day, events_per_second (or registered false and the reason)" },
  },
} as const;

/** What names a stored prediction, in both its full and its summary form. */
const predictionKeys = {
  prediction_id: { type: 'string' },
  stack_id: { type: 'string' },
  stack_name: { type: 'string' },
  project_id: { type: 'string' },
  created_at: dateTime,
  template_hash: { type: 'string' },
} as const;

const predictionSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...predictionKeys,
    arrives_at: dateTime,
    files: stringList,
    parameters: { type: 'object', additionalProperties: true },
    estimate: estimateSchema,
    size_model: { type: 'object', additionalProperties: true },
    recommendation: recommendationSchema,
    warnings: stringList,
    created_by: { type: 'string' },
  },
} as const;

const summarySchema = {
  type: 'object',
  properties: {
    ...predictionKeys,
    events_per_day: { type: 'number' },
    bytes_per_day: { type: 'number' },
    bytes_per_month: { type: 'number' },
    size_method: { type: 'string' },
    observed_meters: { type: 'integer' },
  },
} as const;

const quantity = {
  type: 'object',
  properties: { estimated: { type: 'number' }, actual: { type: 'number' }, difference: { type: 'number' }, accuracy: { type: 'number' } },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'prediction id (24 hex digits)' } } } as const;

const listQuery = z.strictObject({
  stack_id: z.string().min(1).optional(),
  project_id: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

const compareQuery = z.strictObject({
  period: z.enum(PERIOD_NAMES).default('day'),
  by: z.enum(['project', 'stack']).default('project'),
  start: z.iso.datetime({ offset: true }).optional(),
});


function summaryOf(p: PredictionRecord) {
  return {
    prediction_id: p.prediction_id,
    stack_id: p.stack_id,
    stack_name: p.stack_name,
    project_id: p.project_id,
    created_at: p.created_at.toISOString(),
    template_hash: p.template_hash,
    events_per_day: p.estimate.events.per_day,
    bytes_per_day: p.estimate.bytes.per_day,
    bytes_per_month: p.estimate.bytes.per_month,
    size_method: p.size_model.method,
    observed_meters: p.size_model.observed_meters,
  };
}

export function onboardingRoutes(deps: OnboardingRouteDeps): RoutePlugin {
  const { store, db, tracker, config } = deps;
  const periodLength = periodSeconds(config.periods);

  async function sizeModel(): Promise<SizeModel> {
    const model: SizeModel = { method: config.size_method, tracker, overrides: config.size_priors };
    if (config.size_method === 'dbstats') {
      const s = (await db.command({ dbStats: 1 })) as { objects: number; avgObjSize: number; dataSize?: number };
      model.dbStats = { objects: s.objects, avgObjSize: s.avgObjSize, dataSize: s.dataSize } satisfies DbStats;
    }
    return model;
  }

  /** The prediction if it exists and the principal may see it; otherwise the 404 is sent (another project's answers as if absent). */
  async function visible(req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<PredictionRecord | undefined> {
    const p = await store.get(req.params.id);
    if (p && canAccessProject(principalOf(req), p.project_id)) return p;
    reply.code(404).send({ error: 'not found', message: `no prediction ${req.params.id}` });
    return undefined;
  }

  return async (app: FastifyInstance) => {
    await store.ensureIndexes();

    app.post(
      '/v1/onboarding/heat',
      {
        config: { roles: ['ingest'] },
        schema: {
          summary: 'Onboard a Heat stack: estimate the metering data its template will add, recommend the store setup, store the prediction',
          tags: ['estimator'],
          body: {
            type: 'object',
            required: ['stack_id', 'project_id', 'template'],
            properties: {
              stack_id: { type: 'string', description: "Heat's stack id; servers with metadata metering.stack: {get_param: OS::stack_id} carry it as resource_metadata.user_metadata.stack" },
              project_id: { type: 'string', description: 'the project the stack runs in: every sample of the stack carries it (the default key for comparisons)' },
              stack_name: { type: 'string', description: 'stack name (default: the stack id)' },
              template: { type: 'string', description: 'HOT template, YAML text' },
              files: { type: 'object', additionalProperties: { type: 'string' }, description: 'nested templates / get_file targets: name as referenced → text' },
              environment: { type: 'string', description: 'Heat environment, YAML text' },
              parameters: { type: 'object', additionalProperties: true, description: 'template parameter values' },
              arrives_at: { ...dateTime, description: 'when the stack starts producing samples (default: now)' },
            },
          },
          response: {
            201: {
              type: 'object',
              properties: {
                prediction_id: { type: 'string' },
                estimate: estimateSchema,
                recommendation: recommendationSchema,
                warnings: stringList,
              },
            },
            400: errorSchema,
            403: errorSchema,
            422: {
              ...errorSchema,
              description: 'the template, environment, files or parameters are wrong; message and issues name file:line and path',
              properties: { ...errorSchema.properties, issues: { type: 'array', items: { type: 'object', properties: { file: { type: 'string' }, line: { type: 'integer' }, path: { type: 'string' }, message: { type: 'string' } } } } },
            },
          },
        },
      },
      async (req, reply) => {
        const parsed = onboardingBody.safeParse(req.body);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: describeError(parsed.error, 'body') });
        const body = parsed.data;
        const principal = principalOf(req);
        if (!canAccessProject(principal, body.project_id)) return forbidden(reply, principal, body.project_id);

        let estimate;
        try {
          estimate = estimateOnboarding(body, { config, sizeModel: await sizeModel(), pollingConfig: deps.pollingConfig });
        } catch (err) {
          if (err instanceof TemplateError) return reply.code(422).send({ error: 'invalid template', message: err.message, issues: err.issues });
          throw err;
        }
        const json = estimateJson(estimate);
        const now = new Date();
        const arrivesAt = body.arrives_at ? new Date(body.arrives_at) : now;
        const volume = { bytes_per_day: json.bytes.per_day, events_per_second: json.events.per_day / config.periods.day_s };
        const predictor = predictSetup(deps.profiler?.(), volume, deps.services.config.profiler);
        const recommendation: OnboardingRecommendation = { ...predictor, scaler: await handToScaler(deps.services, json, arrivesAt, body.stack_id) };
        const record = await store.insert({
          stack_id: body.stack_id,
          stack_name: json.stack,
          project_id: body.project_id,
          created_at: now,
          arrives_at: arrivesAt,
          template_hash: templateHash(body),
          files: Object.keys(body.files ?? {}).sort(),
          parameters: body.parameters ?? {},
          estimate: json,
          size_model: sizeModelRecord(json),
          recommendation,
          warnings: json.warnings,
          created_by: principal.name,
        });
        return reply
          .code(201)
          .header('location', `/v1/predictions/${record.prediction_id}`)
          .send({ prediction_id: record.prediction_id, estimate: json, recommendation, warnings: json.warnings });
      },
    );

    app.get(
      '/v1/predictions',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Stored predictions, newest first (filter by stack or project; paginated)',
          tags: ['estimator'],
          querystring: {
            type: 'object',
            properties: {
              stack_id: { type: 'string' },
              project_id: { type: 'string', description: 'a project-scoped token sees only its own project' },
              limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
              offset: { type: 'integer', minimum: 0, default: 0 },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                predictions: { type: 'array', items: summarySchema },
                total: { type: 'integer' },
                limit: { type: 'integer' },
                offset: { type: 'integer' },
                next_offset: { type: ['integer', 'null'], description: 'offset of the next page, null on the last' },
              },
            },
            400: errorSchema,
            403: errorSchema,
          },
        },
      },
      async (req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
        const parsed = listQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: describeError(parsed.error, 'query') });
        const q = parsed.data;
        const principal = principalOf(req);
        const scope = projectScope(principal, q.project_id);
        if (scope === 'forbidden') return forbidden(reply, principal, q.project_id!);
        const { total, items } = await store.list({ stack_id: q.stack_id, project_id: scope.project, limit: q.limit, offset: q.offset });
        const next = q.offset + items.length;
        return { predictions: items.map(summaryOf), total, limit: q.limit, offset: q.offset, next_offset: next < total ? next : null };
      },
    );

    app.get(
      '/v1/predictions/:id',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'One stored prediction: inputs (template hash, parameters, files), the estimate, the size model and the recommendation',
          tags: ['estimator'],
          params: idParams,
          response: { 200: predictionSchema, 404: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
        const p = await visible(req, reply);
        if (!p) return reply;
        return { ...p, created_at: p.created_at.toISOString(), arrives_at: p.arrives_at.toISOString() };
      },
    );

    app.get(
      '/v1/predictions/:id/compare',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Estimate vs actually collected (events and stored bytes of the stack in the store) for a day, week or month from the stack start, with the accuracy per quantity',
          tags: ['estimator'],
          params: idParams,
          querystring: {
            type: 'object',
            properties: {
              period: { type: 'string', enum: [...PERIOD_NAMES], default: 'day' },
              by: { type: 'string', enum: ['project', 'stack'], default: 'project', description: "select the stack's samples by project_id (all resources) or by resource_metadata.user_metadata.stack = stack_id (servers with metering.stack metadata)" },
              start: { ...dateTime, description: 'window start (default: the prediction arrives_at)' },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                prediction_id: { type: 'string' },
                stack_id: { type: 'string' },
                project_id: { type: 'string' },
                period: { type: 'string' },
                selected_by: { type: 'string' },
                window: {
                  type: 'object',
                  properties: {
                    start: dateTime,
                    end: dateTime,
                    compared_until: dateTime,
                    complete: { type: 'boolean', description: 'false while the period is still running: both sides cover start … now' },
                  },
                },
                bytes_method: { type: 'string' },
                events: quantity,
                bytes: quantity,
                meters: { type: 'array', items: { type: 'object', properties: { meter: { type: 'string' }, ...quantity.properties } } },
              },
            },
            400: errorSchema,
            404: errorSchema,
          },
        },
      },
      async (req: FastifyRequest<{ Params: { id: string }; Querystring: Record<string, unknown> }>, reply) => {
        const parsed = compareQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: describeError(parsed.error, 'query') });
        const q = parsed.data;
        const p = await visible(req, reply);
        if (!p) return reply;
        const start = q.start ? new Date(q.start) : p.arrives_at;
        const end = new Date(start.getTime() + periodLength[q.period] * 1000);
        const until = new Date(Math.min(end.getTime(), Date.now()));
        const seconds = Math.max(0, (until.getTime() - start.getTime()) / 1000);
        let estimate = p.estimate;
        if (q.by === 'stack') {
          // Only server-scoped meters (instance, vNIC, disk) carry the server's metering.stack metadata.
          estimate = { ...estimate, meters: estimate.meters.filter((m) => m.scope === 'instance' || m.scope === 'vnic' || m.scope === 'disk') };
        }
        const expected = expectedFor(estimate, seconds);
        const actual = await collectedIn(db, { project_id: p.project_id, stack_id: p.stack_id, by: q.by, start, end: until });
        const c = compare(expected, actual);
        return {
          prediction_id: p.prediction_id,
          stack_id: p.stack_id,
          project_id: p.project_id,
          period: q.period,
          selected_by: q.by === 'project' ? `project_id = ${p.project_id}` : `resource_metadata.user_metadata.stack = ${p.stack_id} (project ${p.project_id})`,
          window: { start: start.toISOString(), end: end.toISOString(), compared_until: until.toISOString(), complete: until.getTime() === end.getTime() },
          bytes_method: actual.bytes_method,
          ...c,
        };
      },
    );
  };
}
