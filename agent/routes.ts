/**
 * Controller routes of the host agents (request/reply by resource id):
 *
 *   POST /v1/agents/register                      an agent announces itself; answers where the request queue is
 *   GET  /v1/agents                               registered agents (alive or silent), their facts and resources
 *   GET  /v1/resources/:id/raw?meter=&from=&to=   the raw points the host holding that resource kept
 *   GET  /v1/hosts/series?hosts=a,b&meter=&from=&to=  each host's own points (fan-out), for time-window graphs
 *
 * Project scope: a resource belongs to the project its agent reported (Nova instances: the
 * instance's project; the host's own disks, interfaces and cgroups: no project). A project-scoped
 * token sees only its project's resources (others answer 404 as if unknown); host series and the
 * host list are operator data (scoped tokens get 403 for series and only their resources in the list);
 * registering an agent needs an unscoped principal (it hands out the request queue).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { canAccessProject } from '../controller/auth';
import { parseIsoInstant } from '../lib/instant';
import { principalOf, type RoutePlugin } from '../controller/server';
import { errorSchema, zodMessage } from '../controller/http';
import { AgentTimeoutError, BrokerBusyError, type RequestBroker } from './broker';
import type { AgentControllerConfig } from './config';
import { heartbeatMessage } from './protocol';

export interface AgentRouteOptions {
  /** The broker, or why it is not available. */
  broker: () => RequestBroker | string;
  config: AgentControllerConfig;
  /** Redis URL handed to registering agents, or why there is none to hand over (agentRedisUrl). */
  redisUrl: { url: string } | { why: string };
}

const isoDate = (name: string) =>
  z
    .string()
    .refine((s) => !Number.isNaN(parseIsoInstant(s)), `${name} is not an ISO 8601 date or date-time (e.g. 2026-12-03T10:00:00Z)`)
    .transform((s) => parseIsoInstant(s));

const rangeQuery = {
  meter: z.string().min(1, 'meter is required'),
  from: isoDate('from').optional(),
  to: isoDate('to').optional(),
};
const rawQuery = z.strictObject(rangeQuery);
const seriesQuery = z.strictObject({ ...rangeQuery, hosts: z.string().min(1, 'hosts is required (comma-separated host names)') });

const pointSchema = { type: 'object', properties: { t: { type: 'string', description: 'ISO 8601 time of the poll' }, v: { type: 'number' } } } as const;
const rangeProps = {
  meter: { type: 'string', description: 'meter name, e.g. hardware.cpu.util' },
  from: { type: 'string', description: 'ISO 8601 start (inclusive); default: one hour before `to`' },
  to: { type: 'string', description: 'ISO 8601 end (exclusive); default: now' },
} as const;

function range(q: { from?: number; to?: number }): { from: number; to: number } | string {
  const to = q.to ?? Date.now();
  const from = q.from ?? to - 3_600_000;
  return from < to ? { from, to } : `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`;
}

const toPoints = (points: Array<[number, number]> | undefined) => (points ?? []).map(([t, v]) => ({ t: new Date(t).toISOString(), v }));

function unavailable(reply: FastifyReply, why: string) {
  return reply.code(503).header('retry-after', '5').send({ error: 'service unavailable', message: `the agent request queue is not available: ${why}` });
}

export function agentRoutes(opts: AgentRouteOptions): RoutePlugin {
  const { config } = opts;
  return (app: FastifyInstance) => {
    app.post(
      '/v1/agents/register',
      {
        config: { roles: ['ingest'] },
        schema: {
          summary: 'A host agent registers: the resources it holds (with their projects) and host facts; answers the request queue to heartbeat and listen on',
          tags: ['agent'],
          body: { type: 'object', required: ['host', 'instance', 'interval_s', 'resources'], additionalProperties: true, properties: { host: { type: 'string' }, instance: { type: 'string' }, interval_s: { type: 'number' }, resources: { type: 'array' }, facts: { type: 'object' } } },
          response: { 200: { type: 'object', additionalProperties: true }, 400: errorSchema, 403: errorSchema, 503: errorSchema },
        },
      },
      async (req, reply) => {
        const parsed = heartbeatMessage.safeParse({ ...(req.body as object), kind: 'heartbeat' });
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'body') });
        const principal = principalOf(req);
        // the answer hands out the request queue (URL and credentials), which is operator infrastructure:
        // with it a tenant could answer other hosts' requests, and its registration would replace a host's
        if (principal.project !== undefined) return reply.code(403).send({ error: 'forbidden', message: `${principal.via === 'certificate' ? 'certificate' : 'token'} "${principal.name}" is scoped to project ${principal.project}: host agents register with an unscoped ingest token or certificate (the registration hands out the request queue, which is the operator's)` });
        if ('why' in opts.redisUrl) return unavailable(reply, opts.redisUrl.why);
        const broker = opts.broker();
        if (typeof broker === 'string') return unavailable(reply, broker);
        try {
          await broker.announce(parsed.data); // every controller's registry, not only this one's
        } catch (err) {
          return unavailable(reply, `registration not published: ${(err as Error).message}`);
        }
        return { host: parsed.data.host, redis_url: opts.redisUrl.url, channel_prefix: config.channel_prefix, heartbeat_s: parsed.data.interval_s, request_timeout_ms: config.request_timeout_ms };
      },
    );

    app.get(
      '/v1/agents',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Registered host agents: alive or silent, last heartbeat, host facts, resources held',
          tags: ['agent'],
          response: { 200: { type: 'object', additionalProperties: true }, 503: errorSchema },
        },
      },
      async (req, reply) => {
        const broker = opts.broker();
        if (typeof broker === 'string') return unavailable(reply, broker);
        const principal = principalOf(req);
        const now = Date.now();
        const agents = [];
        for (const e of broker.registry.list()) {
          const resources = [...e.resources.values()].filter((r) => canAccessProject(principal, r.project_id));
          if (principal.project !== undefined && resources.length === 0) continue;
          agents.push({ host: e.host, alive: broker.registry.alive(e.host, now), last_seen: new Date(e.lastSeen).toISOString(), registered_at: new Date(e.registeredAt).toISOString(), heartbeat_s: e.intervalMs / 1000, ...(principal.project === undefined ? { facts: e.facts ?? {} } : {}), resources: resources.map((r) => ({ resource_id: r.id, project_id: r.project_id, meters: r.meters })) });
        }
        return { count: agents.length, agents };
      },
    );

    app.get(
      '/v1/resources/:id/raw',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "Raw points of one resource's meter, fetched on request from the host agent that keeps them (504 naming the host when it does not answer)",
          tags: ['agent'],
          params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          querystring: { type: 'object', required: ['meter'], properties: rangeProps },
          response: {
            200: { type: 'object', properties: { resource_id: { type: 'string' }, meter: { type: 'string' }, host: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, total: { type: 'integer', description: 'points in the range before thinning to agent.controller.max_points' }, points: { type: 'array', items: pointSchema } } },
            400: errorSchema,
            404: errorSchema,
            502: errorSchema,
            503: errorSchema,
            504: errorSchema,
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const parsed = rawQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'query') });
        const r = range(parsed.data);
        if (typeof r === 'string') return reply.code(400).send({ error: 'bad request', message: r });
        const broker = opts.broker();
        if (typeof broker === 'string') return unavailable(reply, broker);
        const where = broker.registry.locate(id);
        const principal = principalOf(req);
        if (!where || !canAccessProject(principal, where.project_id)) return reply.code(404).send({ error: 'not found', message: `no registered agent holds resource ${id}` });
        const meter = parsed.data.meter;
        if (!where.meters.includes(meter)) return reply.code(404).send({ error: 'not found', message: `resource ${id} on host ${where.host} has no meter ${meter} (it has ${where.meters.join(', ')})` });
        try {
          const ans = await broker.request(where.host, { op: 'raw', resource_id: id, meter, from: r.from, to: r.to, max_points: config.max_points });
          if (!ans.ok) return reply.code(502).send({ error: 'bad gateway', host: where.host, message: `agent on host ${where.host} could not read its store: ${ans.error}` });
          return { resource_id: id, meter, host: where.host, from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString(), total: ans.total ?? ans.points?.length ?? 0, points: toPoints(ans.points) };
        } catch (err) {
          if (err instanceof AgentTimeoutError) return reply.code(504).send({ error: 'gateway timeout', host: err.host, message: err.message });
          if (err instanceof BrokerBusyError) return reply.code(503).header('retry-after', '1').send({ error: 'service unavailable', message: err.message });
          return unavailable(reply, (err as Error).message);
        }
      },
    );

    app.get(
      '/v1/hosts/series',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "Each host's own points of one meter (its host resource), asked of every host at once, for client-side time-window graphs; hosts that do not answer are listed with their status",
          tags: ['agent'],
          querystring: { type: 'object', required: ['hosts', 'meter'], properties: { hosts: { type: 'string', description: 'comma-separated host names' }, ...rangeProps } },
          response: {
            200: {
              type: 'object',
              properties: {
                meter: { type: 'string' },
                from: { type: 'string' },
                to: { type: 'string' },
                hosts: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      host: { type: 'string' },
                      status: { type: 'string', enum: ['ok', 'timeout', 'unknown_host', 'no_meter', 'error'] },
                      resource_id: { type: 'string' },
                      total: { type: 'integer' },
                      points: { type: 'array', items: pointSchema },
                      error: { type: 'string' },
                    },
                  },
                },
              },
            },
            400: errorSchema,
            403: errorSchema,
            503: errorSchema,
          },
        },
      },
      async (req, reply) => {
        const parsed = seriesQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: zodMessage(parsed.error, 'query') });
        const principal = principalOf(req);
        if (principal.project !== undefined) return reply.code(403).send({ error: 'forbidden', message: `token "${principal.name}" is scoped to project ${principal.project}; host series are the operator's data` });
        const r = range(parsed.data);
        if (typeof r === 'string') return reply.code(400).send({ error: 'bad request', message: r });
        const hosts = [...new Set(parsed.data.hosts.split(',').map((h) => h.trim()).filter(Boolean))];
        if (hosts.length === 0) return reply.code(400).send({ error: 'bad request', message: 'query.hosts: no host named' });
        if (hosts.length > config.max_hosts) return reply.code(400).send({ error: 'bad request', message: `query.hosts: ${hosts.length} hosts, at most ${config.max_hosts} (agent.controller.max_hosts)` });
        const broker = opts.broker();
        if (typeof broker === 'string') return unavailable(reply, broker);
        const meter = parsed.data.meter;
        const rows = await Promise.all(
          hosts.map(async (host) => {
            const entry = broker.registry.host(host);
            if (!entry) return { host, status: 'unknown_host', points: [], error: `no registered agent on host ${host}` };
            const res = entry.resources.get(host);
            if (!res || !res.meters.includes(meter)) return { host, status: 'no_meter', points: [], error: `host ${host} reports no ${meter} for itself` };
            try {
              const ans = await broker.request(host, { op: 'raw', resource_id: host, meter, from: r.from, to: r.to, max_points: config.max_points });
              if (!ans.ok) return { host, status: 'error', resource_id: host, points: [], error: ans.error };
              return { host, status: 'ok', resource_id: host, total: ans.total ?? 0, points: toPoints(ans.points) };
            } catch (err) {
              return { host, status: err instanceof AgentTimeoutError ? 'timeout' : 'error', resource_id: host, points: [], error: (err as Error).message };
            }
          }),
        );
        return { meter, from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString(), hosts: rows };
      },
    );
  };
}
