import type { FastifyInstance } from 'fastify';
import type { RoutePlugin } from '../controller/server';
import { OnboardingInputError } from './onboarding';
import { ACTIONS, type Decision } from './policy';
import { ActuationRefusedError, EvaluateInputError, type ScalerService } from './service';
import { errorSchema } from '../controller/http';
import { principalOf } from '../controller/server';

/** JSON schemas of the scaler routes (OpenAPI via @fastify/swagger). */
const anyObject = { type: 'object', additionalProperties: true } as const;

const decisionSchema = {
  type: 'object',
  properties: {
    t: { type: 'string', format: 'date-time', description: 'instant the policy evaluated' },
    action: { type: 'string', enum: [...ACTIONS] },
    reason: { type: 'string' },
    shard: { type: 'string', description: 'target of add-replica / remove-shard' },
    count: { type: 'integer', description: 'shards to add at once (predictive scale-out)' },
    inputs: { ...anyObject, description: 'what the decision was based on: shard count, latest metrics per shard, hot rules, onboarding projection' },
  },
  required: ['t', 'action', 'reason'],
} as const;

const recordSchema = {
  type: 'object',
  properties: {
    ...decisionSchema.properties,
    source: { type: 'string', enum: ['loop', 'api', 'watch'] },
    requested_by: { type: 'object', properties: { token: { type: 'string' }, remote: { type: 'string' } }, description: 'audit: who asked for an API-triggered round' },
    recorded_at: { type: 'string', format: 'date-time' },
    outcome: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['planned', 'done', 'failed', 'skipped'] },
        detail: { type: 'string' },
        at: { type: 'string', format: 'date-time' },
        counts: { type: 'object', properties: { before: { type: 'integer' }, after: { type: 'integer' } } },
      },
    },
  },
  required: ['t', 'action', 'reason'],
} as const;


const shardSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, hosts: { type: 'array', items: { type: 'string' } }, draining: { type: 'boolean' }, ownedBytes: { type: 'number' }, ownedDocs: { type: 'number' } },
} as const;

const clusterSchema = {
  type: 'object',
  properties: {
    topology: { type: 'object', properties: { kind: { type: 'string', enum: ['sharded', 'replica-set', 'standalone'] }, server: { type: 'string' }, version: { type: 'string' }, setName: { type: 'string' }, host: { type: 'string' } } },
    sharded: { type: 'boolean' },
    note: { type: 'string', description: 'on a non-sharded deployment: what that means for the scaler' },
    shards: { type: 'array', items: shardSchema, description: 'owned data per shard ($shardedDataDistribution, all sharded collections)' },
    collections: { type: 'array', items: { type: 'object', properties: { ns: { type: 'string' }, cv: { type: 'number' }, totalBytes: { type: 'number' } } } },
    balancer: { type: 'object', properties: { mode: { type: 'string' }, inBalancerRound: { type: 'boolean' }, rounds: { type: 'number' } } },
    storage: { ...anyObject, description: 'dbStats of the metering database (dataBytes, storageBytes, indexBytes, objects, fs…)' },
    shardCount: { type: 'integer' },
    policy: { type: 'object', properties: { minShards: { type: 'integer' }, maxShards: { type: 'integer' }, canAdd: { type: 'boolean' }, canRemove: { type: 'boolean' } } },
    skipped: { type: 'array', items: { type: 'string' } },
    loop: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean' }, actuate: { type: 'boolean' }, running: { type: 'boolean' }, rounds: { type: 'integer' }, lastEvaluation: { type: ['string', 'null'] }, actuation: { type: 'string' },
        leader: { type: ['string', 'null'], description: 'with several controllers (cluster.enabled): the controller whose loop runs and acts (GET /v1/cluster/controllers lists them all); null when alone or unknown' },
        leading: { type: 'boolean', description: 'whether this controller runs the loop\'s rounds (always true for a controller on its own)' },
      },
    },
  },
} as const;

const toJson = (d: Decision) => ({ ...d, t: d.t.toISOString() });

/** GET /v1/cluster, GET /v1/scaler/decisions, POST /v1/scaler/evaluate, POST /v1/scaler/onboarding. */
export function scalerRoutes(scaler: ScalerService): RoutePlugin {
  return async (app: FastifyInstance) => {
    app.get(
      '/v1/cluster',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Current state of the store deployment: topology, shards with data per shard, balancer, shard count vs policy bounds, control loop',
          tags: ['scaler'],
          response: { 200: clusterSchema },
        },
      },
      async () => scaler.cluster(),
    );

    app.get(
      '/v1/scaler/decisions',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Decision history with inputs and outcomes, newest first',
          tags: ['scaler'],
          querystring: {
            type: 'object',
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
              action: { type: 'string', enum: [...ACTIONS], description: 'only this action' },
              actions_only: { type: 'boolean', default: false, description: 'hide "none" evaluations' },
            },
            additionalProperties: false,
          },
          response: { 200: { type: 'object', properties: { decisions: { type: 'array', items: recordSchema } } } },
        },
      },
      async (req) => {
        const q = req.query as { limit: number; action?: Decision['action']; actions_only: boolean };
        return { decisions: await scaler.decisions.history({ limit: q.limit, ...(q.action ? { action: q.action } : {}), actionsOnly: q.actions_only }) };
      },
    );

    app.post(
      '/v1/scaler/evaluate',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'Evaluate the scaling policy over the live observations or a posted what-if series/policy (never carried out); ?actuate=true without a body runs one control-loop round now (its cooldowns, one lock with the loop, audited) on a real sharded cluster',
          tags: ['scaler'],
          querystring: {
            type: 'object',
            properties: {
              actuate: { type: 'boolean', default: false, description: 'run one round of the control loop now and carry out its decision (its policy state and lock; stored with who asked). 400 together with a posted series or policy (a what-if is never carried out); 409 where the cluster cannot be scaled' },
              all: { type: 'boolean', default: false, description: 'return every evaluation, not only actions' },
            },
            additionalProperties: false,
          },
          body: {
            type: ['object', 'null'],
            properties: {
              series: {
                type: 'array',
                items: anyObject,
                description: 'observations {t, shard, cpu?, memory?, disk?, reads_per_s?, writes_per_s?, query_ms?, disk_total_bytes?} and onboarding lines {t, onboarding: {arrives_at, bytes_per_day, events_per_s, label?}}, as in `scaler replay` JSONL; absent: the live observations',
              },
              policy: { ...anyObject, description: 'policy override (keys of scaler.policy); absent: the configured policy' },
            },
            additionalProperties: false,
          },
          response: {
            200: {
              type: 'object',
              properties: {
                source: { type: 'string', enum: ['series', 'live'] },
                observations: { type: 'integer' },
                onboarding: { type: 'integer' },
                evaluations: { type: 'integer' },
                decisions: { type: 'array', items: decisionSchema },
                latest: decisionSchema,
                actuation: { type: 'object', properties: { status: { type: 'string' }, detail: { type: 'string' }, counts: anyObject } },
                requested_by: { type: 'object', properties: { token: { type: 'string' }, remote: { type: 'string' } } },
                note: { type: 'string' },
              },
            },
            400: errorSchema,
            409: errorSchema,
          },
        },
      },
      async (req, reply) => {
        const q = req.query as { actuate: boolean; all: boolean };
        const body = (req.body ?? {}) as { series?: unknown[]; policy?: unknown };
        try {
          const requestedBy = { token: principalOf(req).name, remote: req.ip };
          const r = await scaler.evaluate({ series: body.series, policy: body.policy, all: q.all, actuate: q.actuate, requestedBy });
          return { ...r, decisions: r.decisions.map(toJson), ...(r.latest ? { latest: toJson(r.latest) } : {}) };
        } catch (err) {
          if (err instanceof EvaluateInputError) return reply.code(400).send({ error: 'invalid evaluation request', message: err.message });
          if (err instanceof ActuationRefusedError) return reply.code(409).send({ error: 'cannot actuate', reason: err.message });
          throw err;
        }
      },
    );

    app.post(
      '/v1/scaler/onboarding',
      {
        config: { roles: ['ingest'] },
        schema: {
          summary: 'Register an onboarding estimate (a new Heat stack) for predictive scale-out before its data arrives',
          tags: ['scaler'],
          body: {
            type: 'object',
            properties: {
              at: { type: 'string', format: 'date-time', description: 'when the stack\'s data starts arriving' },
              bytes_per_day: { type: 'number', minimum: 0 },
              events_per_second: { type: 'number', minimum: 0 },
              stack_id: { type: 'string' },
              known_at: { type: 'string', format: 'date-time', description: 'when the estimate became known (default now)' },
            },
            required: ['at', 'bytes_per_day', 'events_per_second'],
          },
          response: {
            202: {
              type: 'object',
              properties: {
                registered: { type: 'object', properties: { stack_id: { type: 'string' }, at: { type: 'string' }, bytes_per_day: { type: 'number' }, events_per_second: { type: 'number' }, known_at: { type: 'string' } } },
                trigger_at: { type: 'string', format: 'date-time', description: 'when the policy acts on it: at − predictive.leadTime, or now if later' },
                pending: { type: 'integer' },
                preview: { ...decisionSchema, description: 'what the policy would decide if the stack arrived now on the current state (when observations exist)' },
              },
            },
            400: errorSchema,
          },
        },
      },
      async (req, reply) => {
        try {
          const r = await scaler.onboard(req.body);
          const e = r.estimate;
          return reply.code(202).send({
            registered: { ...(e.label ? { stack_id: e.label } : {}), at: e.arrives_at.toISOString(), bytes_per_day: e.bytes_per_day, events_per_second: e.events_per_s, known_at: e.t.toISOString() },
            trigger_at: r.triggerAt.toISOString(),
            pending: r.pending,
            ...(r.preview ? { preview: toJson(r.preview) } : {}),
          });
        } catch (err) {
          if (err instanceof OnboardingInputError) return reply.code(400).send({ error: 'invalid onboarding estimate', message: err.message });
          throw err;
        }
      },
    );
  };
}
