import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { canAccessProject, type Principal } from '../controller/auth';
import { principalOf, type RoutePlugin } from '../controller/server';
import type { Calibration } from './calibration';
import type { ProfilerConfig } from './config';
import type { Profiler, VmState, VmUtilisation } from './profiler';
import { compareFree, headroomOf, queue, QUEUE_RESOURCES, type VmHeadroom } from './queues';
import { recommendSetup } from './recommend';
import { errorSchema, projectScope, refuseProject as forbidden, zodMessage as describeError } from '../controller/http';

/**
 * Controller routes over the live profiler (role `read`). A VM belongs to the project named by its
 * samples' `project_id`; a project-scoped token sees only its project's VMs (others answer 404 as if
 * they did not exist), and a `project_id` it may not access is refused with 403.
 *
 *   GET  /v1/profiles[?project_id=]            every VM: per-resource avg/window/samples + headroom
 *   GET  /v1/profiles/:vm                      one VM (instance id or display name)
 *   GET  /v1/queues?resource=&order=&k=&min_free_memory_gib=&min_free_cpu_pct=[&project_id=]
 *   POST /v1/predictor/recommendation          {bytes_per_day, events_per_second, targets?, caps?, project_id?}
 */

/** JSON has no NaN/Infinity: unknown or unbounded numbers become null. */
const jsonSafe = <T>(x: T): unknown => JSON.parse(JSON.stringify(x));

const resourceStats = {
  type: 'object',
  properties: { avg: { type: ['number', 'null'] }, window: { type: 'integer' }, samples: { type: 'integer' } },
} as const;

const headroomSchema = {
  type: 'object',
  properties: {
    cpu_pct: { type: ['number', 'null'], description: 'moving-average CPU, % of the vCPUs' },
    memory_pct: { type: ['number', 'null'], description: 'moving-average memory used, % of the VM' },
    free_cpu_cores: { type: 'number' },
    free_memory_gib: { type: 'number' },
  },
} as const;

const profileSchema = {
  type: 'object',
  properties: {
    vm: { type: 'string', description: 'instance id' },
    name: { type: 'string' },
    project: { type: ['string', 'null'] },
    vcpus: { type: ['number', 'null'] },
    memory_mb: { type: ['number', 'null'] },
    last_seen: { type: 'string' },
    resources: { type: 'object', additionalProperties: resourceStats },
    headroom: headroomSchema,
  },
} as const;


const queueEntrySchema = {
  type: 'object',
  properties: {
    vm: { type: 'string' },
    name: { type: 'string' },
    project: { type: ['string', 'null'] },
    vcpus: { type: ['number', 'null'] },
    memory_mb: { type: ['number', 'null'] },
    cpu_pct: { type: ['number', 'null'] },
    memory_pct: { type: ['number', 'null'] },
    free_cpu_cores: { type: 'number' },
    free_cpu_pct: { type: ['number', 'null'] },
    free_memory_gib: { type: 'number' },
    disk_bytes_per_s: { type: ['number', 'null'] },
    network_bytes_per_s: { type: ['number', 'null'] },
    value: { type: ['number', 'null'], description: 'what the queue is ordered by' },
  },
} as const;

const queueQuery = z.strictObject({
  resource: z.enum(QUEUE_RESOURCES).default('cpu'),
  order: z.enum(['free', 'used']).default('free'),
  k: z.coerce.number().int().min(0).max(10_000).default(10),
  min_free_memory_gib: z.coerce.number().nonnegative().default(0),
  min_free_cpu_pct: z.coerce.number().min(0).max(100).default(0),
  project_id: z.string().min(1).optional(),
});

const recommendationBody = z.strictObject({
  bytes_per_day: z.number().nonnegative(),
  events_per_second: z.number().nonnegative(),
  targets: z.record(z.string(), z.unknown()).optional(),
  caps: z.record(z.string(), z.unknown()).optional(),
  project_id: z.string().min(1).optional(),
});


/** Which VMs a request may see: the token's project, narrowed by `project_id` if given. Undefined = refused. */
function scopeOf(principal: Principal, projectId: string | undefined): ((vm: VmState) => boolean) | undefined | 'forbidden' {
  const scope = projectScope(principal, projectId);
  if (scope === 'forbidden') return scope;
  const { project } = scope;
  return project === undefined ? undefined : (vm) => vm.project === project;
}

function withHeadroom(u: VmUtilisation, h: VmHeadroom) {
  return { ...u, headroom: { cpu_pct: h.cpu_pct, memory_pct: h.memory_pct, free_cpu_cores: h.free_cpu_cores, free_memory_gib: h.free_memory_gib } };
}

export interface ProfilerRouteOptions {
  /**
   * The profiler the routes answer from, or a function giving it per request (with
   * `profiler.cluster.state: store`: the cluster-wide view read from the store, see profiler/cluster.ts).
   */
  profiler: Profiler | (() => Promise<Profiler>);
  config: ProfilerConfig;
  /** Model constants (default: profiler/calibration.json, read per request so a re-calibration applies at once). */
  calibration?: Calibration;
}

export function profilerRoutes(opts: ProfilerRouteOptions): RoutePlugin {
  const { config } = opts;
  const source = opts.profiler;
  const current = typeof source === 'function' ? source : async () => source;
  return (app: FastifyInstance) => {
    app.get(
      '/v1/profiles',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Utilisation profiles of every tracked VM (moving averages per resource and headroom), most free CPU first',
          tags: ['profiler'],
          querystring: { type: 'object', properties: { project_id: { type: 'string', description: 'only VMs of this project' } } },
          response: {
            200: { type: 'object', properties: { count: { type: 'integer' }, vms: { type: 'array', items: profileSchema } } },
            403: errorSchema,
          },
        },
      },
      async (req: FastifyRequest<{ Querystring: { project_id?: string } }>, reply) => {
        const profiler = await current();
        const principal = principalOf(req);
        const scope = scopeOf(principal, req.query.project_id);
        if (scope === 'forbidden') return forbidden(reply, principal, req.query.project_id!);
        const rows: Array<{ u: VmUtilisation; h: VmHeadroom }> = [];
        for (const vm of profiler.states()) {
          if (scope && !scope(vm)) continue;
          rows.push({ u: profiler.utilisation(vm.id)!, h: headroomOf(vm) });
        }
        rows.sort((a, b) => compareFree(a.h, b.h));
        return jsonSafe({ count: rows.length, vms: rows.map(({ u, h }) => withHeadroom(u, h)) });
      },
    );

    app.get(
      '/v1/profiles/:vm',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "One VM's utilisation profile (by instance id, or by display name when unique)",
          tags: ['profiler'],
          params: { type: 'object', properties: { vm: { type: 'string' } }, required: ['vm'] },
          response: { 200: profileSchema, 404: errorSchema },
        },
      },
      async (req: FastifyRequest<{ Params: { vm: string } }>, reply) => {
        const profiler = await current();
        const principal = principalOf(req);
        const visible = (vm: VmState) => canAccessProject(principal, vm.project);
        let state = profiler.state(req.params.vm);
        if (state === undefined) {
          const byName = [...profiler.states()].filter((vm) => vm.name === req.params.vm && visible(vm));
          if (byName.length === 1) state = byName[0];
        }
        if (state === undefined || !visible(state)) return reply.code(404).send({ error: 'not found', message: `no profiled VM ${req.params.vm}` });
        return jsonSafe(withHeadroom(profiler.utilisation(state.id)!, headroomOf(state)));
      },
    );

    app.get(
      '/v1/queues',
      {
        config: { roles: ['read'] },
        schema: {
          summary: 'Utilisation queue: the k VMs with the most free (or most used) cpu, memory, disk or network, optionally with ≥ X GiB free memory and ≥ Y% free CPU',
          tags: ['profiler'],
          querystring: {
            type: 'object',
            properties: {
              resource: { type: 'string', enum: [...QUEUE_RESOURCES], default: 'cpu' },
              order: { type: 'string', enum: ['free', 'used'], default: 'free', description: 'free: most room first (cpu by free cores, memory by free GiB, disk/network by lowest rate); used: most utilised first' },
              k: { type: 'integer', minimum: 0, maximum: 10000, default: 10 },
              min_free_memory_gib: { type: 'number', minimum: 0 },
              min_free_cpu_pct: { type: 'number', minimum: 0, maximum: 100 },
              project_id: { type: 'string' },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: { resource: { type: 'string' }, order: { type: 'string' }, k: { type: 'integer' }, vms: { type: 'array', items: queueEntrySchema } },
            },
            400: errorSchema,
            403: errorSchema,
          },
        },
      },
      async (req: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
        const profiler = await current();
        const parsed = queueQuery.safeParse(req.query);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: describeError(parsed.error, 'query') });
        const q = parsed.data;
        const principal = principalOf(req);
        const scope = scopeOf(principal, q.project_id);
        if (scope === 'forbidden') return forbidden(reply, principal, q.project_id!);
        const vms = queue(profiler, { resource: q.resource, order: q.order, k: q.k, minFreeMemoryGiB: q.min_free_memory_gib, minFreeCpuPct: q.min_free_cpu_pct, accept: scope });
        return jsonSafe({ resource: q.resource, order: q.order, k: q.k, vms });
      },
    );

    app.post(
      '/v1/predictor/recommendation',
      {
        config: { roles: ['read'] },
        schema: {
          summary: "The offline resource predictor's recommended metering-store setup (shards × members on named live VMs, extra load per VM, explanation)",
          tags: ['profiler'],
          body: {
            type: 'object',
            required: ['bytes_per_day', 'events_per_second'],
            properties: {
              bytes_per_day: { type: 'number', minimum: 0, description: 'expected metering data, bytes per day (the estimator)' },
              events_per_second: { type: 'number', minimum: 0, description: 'expected samples per second' },
              targets: { type: 'object', additionalProperties: true, description: 'query_ms, query_rate_per_s, avg_load, query_span_h, min_replicas, max_replicas (defaults: profiler.targets)' },
              caps: { type: 'object', additionalProperties: true, description: 'cpu_pp, memory_pp, ceiling_pct (defaults: profiler.caps)' },
              project_id: { type: 'string', description: "only this project's VMs are candidates" },
            },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: true,
              properties: {
                feasible: { type: 'boolean' },
                shards: { type: 'integer' },
                replicas: { type: 'integer' },
                placement: { type: 'array', items: { type: 'object', additionalProperties: true } },
                predicted: { type: 'object', additionalProperties: true },
                binding: { type: 'string' },
                missing_vms: { type: ['integer', 'null'] },
                explanation: { type: 'array', items: { type: 'string' } },
              },
            },
            400: errorSchema,
            403: errorSchema,
          },
        },
      },
      async (req, reply) => {
        const parsed = recommendationBody.safeParse(req.body);
        if (!parsed.success) return reply.code(400).send({ error: 'bad request', message: describeError(parsed.error, 'body') });
        const b = parsed.data;
        const principal = principalOf(req);
        const scope = scopeOf(principal, b.project_id);
        if (scope === 'forbidden') return forbidden(reply, principal, b.project_id!);
        const profiler = await current();
        try {
          const rec = recommendSetup(
            profiler,
            { bytes_per_day: b.bytes_per_day, events_per_second: b.events_per_second },
            { ...config.targets, ...b.targets },
            { ...config.caps, ...b.caps },
            { calibration: opts.calibration, accept: scope },
          );
          return jsonSafe(rec);
        } catch (err) {
          if (err instanceof RangeError) return reply.code(400).send({ error: 'bad request', message: err.message });
          throw err;
        }
      },
    );
  };
}
