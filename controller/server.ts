import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { Authenticator, type Principal } from './auth';
import type { Role } from './config';
import type { MeteringConfig } from '../config/schema';
import { ProductMetrics } from './metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles any of which grants access (admin always does). Omit only together with `public`. */
    roles?: Role[];
    /** No token needed (health, readiness, the OpenAPI description). */
    public?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** A readiness check: resolves when the dependency answers, rejects with the reason otherwise. */
export type ReadinessCheck = () => Promise<void>;

/** What route plugins get: configuration, logging, metrics, and a place to add readiness checks. */
export interface ControllerContext {
  config: MeteringConfig;
  log: Logger;
  metrics: ProductMetrics;
  readiness: Map<string, ReadinessCheck>;
}

/** A component's routes. Every route must declare `config.roles` (or `config.public`). */
export type RoutePlugin = (app: FastifyInstance, ctx: ControllerContext) => void | Promise<void>;

export interface ControllerOptions {
  config: MeteringConfig;
  log: Logger;
  metrics?: ProductMetrics;
  routes?: RoutePlugin[];
  readiness?: Record<string, ReadinessCheck>;
}

const CHECK_TIMEOUT_MS = 2000;

async function runCheck(check: ReadinessCheck): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The system controller: one fastify server with health/readiness, Prometheus /metrics, an OpenAPI
 * description of every route, and bearer-token authentication with roles and project scope.
 * Components mount their routes through `routes`.
 */
export async function buildController(opts: ControllerOptions): Promise<FastifyInstance> {
  const { config, log } = opts;
  const metrics = opts.metrics ?? new ProductMetrics();
  const auth = new Authenticator(config.controller.auth.tokens);
  const readiness = new Map(Object.entries(opts.readiness ?? {}));
  const app = Fastify({ loggerInstance: log.child({ component: 'controller' }) as FastifyBaseLogger, bodyLimit: config.controller.bodyLimitBytes, logController: new LogController({ disableRequestLogging: true }),
    // job ids are deterministic (queue|granularity|tz|period|scope) and exceed the default 100
    routerOptions: { maxParamLength: 1000 },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Metering controller', version: '0.1.0', description: 'Scalable metering pipeline on sharded MongoDB: ingestion, estimates, profiles, scaling, rating.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  // Every route's OpenAPI entry says who may call it.
  app.addHook('onRoute', (route) => {
    const rc = route.config as { roles?: Role[]; public?: boolean } | undefined;
    const schema = (route.schema ??= {}) as { description?: string; hide?: boolean };
    if (schema.hide) return;
    const who = rc?.public ? 'No token needed.' : `Roles: ${[...new Set([...(rc?.roles ?? []), 'admin'])].join(', ')}.`;
    // (HEAD routes share their GET route's schema: add it once)
    if (!schema.description?.endsWith(who)) schema.description = schema.description ? `${schema.description} ${who}` : who;
  });

  // Secure by default: a route without `public` needs a token with one of its roles (admin if none given).
  app.addHook('onRequest', async (req, reply) => {
    const rc = req.routeOptions.config;
    if (rc.public || (rc.url === '/metrics' && config.controller.publicMetrics)) return;
    const result = auth.check(req.headers.authorization, rc.roles ?? ['admin']);
    if (!result.ok) {
      metrics.authFailures.inc({ status: String(result.status) });
      // Logged without the token: only method, path, remote address and the reason.
      req.log.warn({ method: req.method, url: req.routeOptions.url ?? req.url, remote: req.ip, status: result.status, reason: result.reason }, 'request refused');
      await reply.code(result.status).header('www-authenticate', 'Bearer').send({ error: result.status === 401 ? 'unauthorized' : 'forbidden', reason: result.reason });
      return reply;
    }
    req.principal = result.principal;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', { config: { public: true }, schema: { summary: 'Liveness: the process answers', tags: ['health'], security: [] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { public: true }, schema: { summary: 'Readiness: every dependency (store, broker, queue) answers', tags: ['health'], security: [] } }, async (_req, reply) => {
    const results: Record<string, { ok: boolean; error?: string }> = {};
    await Promise.all([...readiness].map(async ([name, check]) => { results[name] = await runCheck(check); }));
    const ready = Object.values(results).every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
  });

  app.get('/metrics', { config: { roles: ['read'] }, schema: { summary: "The product's own counters in Prometheus text format", tags: ['health'] } }, async (_req, reply) => {
    return reply.type(metrics.contentType).send(await metrics.render());
  });

  const ctx: ControllerContext = { config, log, metrics, readiness };
  for (const plugin of opts.routes ?? []) await plugin(app, ctx);

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** The principal of an authenticated request (routes that declare roles always have one). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error('route declared public but asked for the principal');
  return req.principal;
}
