import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { Authenticator, formatSubject, type AuthResult, type Principal } from './auth';
import { AuditLog, type AuditEvent } from './audit';
import type { Role } from './config';
import { httpsOptions, reloadCertificates, tlsEnabled, verifiedPeerSubject, watchCertificates } from './tls';
import type { Server as HttpsServer } from 'node:https';
import type { MeteringConfig } from '../app/config';
import { ProductMetrics } from './metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles any of which grants access (admin always does). Omit only together with `public`. */
    roles?: Role[];
    /** No token needed (health, readiness, the OpenAPI description). */
    public?: boolean;
    /** Record calls in the audit log even though the route is not admin-only (admin-only mutating routes always are). */
    audit?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** The audit record of this request, when it is an audited action. */
    auditId?: string;
  }
  interface FastifyInstance {
    /** Apply the reloadable parts of a new configuration: tokens, client principals, TLS certificate/key/CA. */
    reloadSecurity(config: MeteringConfig, who?: string): Promise<SecurityReloadReport>;
  }
}

export interface SecurityReloadReport {
  tokens: number;
  clientPrincipals: number;
  certificates: 'reloaded' | 'not in use';
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
  /** Where admin actions are recorded (see controller/audit.ts); without it nothing is audited. */
  audit?: AuditLog;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Audited: mutating calls of admin-only routes, and of routes that ask for it (`config.audit`). */
function audited(method: string, rc: { roles?: Role[]; public?: boolean; audit?: boolean }): boolean {
  if (rc.public) return false;
  if (rc.audit) return true;
  return MUTATING.has(method) && (rc.roles ?? ['admin']).every((r) => r === 'admin');
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
  let auth = new Authenticator(config.controller.auth.tokens, config.controller.tls.clientPrincipals);
  const readiness = new Map(Object.entries(opts.readiness ?? {}));
  const tls = config.controller.tls;
  /** The TLS files in use: the start-up ones, then those of the last SIGHUP reload (the file watcher reloads these). */
  let currentTls = tls;
  const app = Fastify({ loggerInstance: log.child({ component: 'controller' }) as FastifyBaseLogger, bodyLimit: config.controller.bodyLimitBytes, logController: new LogController({ disableRequestLogging: true }),
    // job ids are deterministic (queue|granularity|tz|period|scope) and exceed the default 100
    routerOptions: { maxParamLength: 1000 },
    // HTTPS only when configured: the server then speaks nothing but TLS (a plain HTTP request fails the handshake)
    ...(tlsEnabled(tls) ? { https: httpsOptions(tls) } : {}),
  }) as unknown as FastifyInstance;

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

  const auditEvent = (req: FastifyRequest, principal: Pick<Principal, 'name' | 'via'> | undefined): AuditEvent => ({
    who: principal?.name ?? null,
    via: principal?.via ?? null,
    action: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`,
    target: { ...((req.params as object) ?? {}), ...((req.query as object) ?? {}) },
    remote: req.ip,
  });

  // Secure by default: a route without `public` needs a token with one of its roles (admin if none given).
  // A request without a token over mutual TLS is authenticated by its verified client certificate.
  app.addHook('onRequest', async (req, reply) => {
    const rc = req.routeOptions.config;
    if (rc.public || (rc.url === '/metrics' && config.controller.publicMetrics)) return;
    const anyOf = rc.roles ?? ['admin'];
    const subject = req.headers.authorization ? undefined : verifiedPeerSubject(req.raw.socket);
    const result: AuthResult = subject ? auth.checkCertificate(subject, anyOf) : auth.check(req.headers.authorization, anyOf);
    const isAudited = opts.audit !== undefined && audited(req.method, rc);
    if (!result.ok) {
      metrics.authFailures.inc({ status: String(result.status) });
      // Logged without the token: only method, path, remote address and the reason.
      req.log.warn({ method: req.method, url: req.routeOptions.url ?? req.url, remote: req.ip, status: result.status, reason: result.reason, ...(subject ? { certificate: formatSubject(subject) } : {}) }, 'request refused');
      if (isAudited) {
        // who was refused, when the credential named someone (a token without the role, an expired token, an unmapped certificate)
        await opts.audit!.end(randomUUID(), { status: result.status, reason: result.reason }, auditEvent(req, result.who ? { name: result.who, via: result.via } : undefined)).catch((err: Error) => {
          metrics.auditFailures.inc();
          req.log.error({ err: err.message }, 'audit log write failed (refused request)');
        });
      }
      await reply.code(result.status).header('www-authenticate', 'Bearer').send({ error: result.status === 401 ? 'unauthorized' : 'forbidden', reason: result.reason });
      return reply;
    }
    req.principal = result.principal;
    if (isAudited) {
      // the record is durable before the action runs: an admin action that cannot be audited does not run
      try {
        req.auditId = await opts.audit!.begin(auditEvent(req, result.principal));
      } catch (err) {
        metrics.auditFailures.inc();
        req.log.error({ err: (err as Error).message }, 'audit log write failed: admin action refused');
        await reply.code(503).header('retry-after', '5').send({ error: 'audit-unavailable', message: 'the audit log cannot be written: admin actions are refused until it is back' });
        return reply;
      }
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    if (req.auditId && opts.audit) {
      await opts.audit.end(req.auditId, { status: reply.statusCode, durationMs: reply.elapsedTime }).catch((err: Error) => {
        metrics.auditFailures.inc();
        req.log.error({ err: err.message, request_id: req.auditId }, 'audit log write failed (outcome); the request record stays with outcome unknown');
      });
    }
  });

  app.decorate('reloadSecurity', async (next: MeteringConfig, who = 'SIGHUP'): Promise<SecurityReloadReport> => {
    const requestId = await opts.audit?.begin({ who, via: null, action: 'reload security (tokens, client principals, certificates)', target: {} }).catch(() => undefined);
    try {
      const nextAuth = new Authenticator(next.controller.auth.tokens, next.controller.tls.clientPrincipals);
      let certificates: SecurityReloadReport['certificates'] = 'not in use';
      // the listening socket's mode cannot change without a restart; its certificate can. A change that
      // cannot be applied refuses the whole reload, so what runs is always one file's settings
      if (tlsEnabled(tls) !== tlsEnabled(next.controller.tls)) {
        throw new Error(`controller.tls: turning HTTPS ${tlsEnabled(tls) ? 'off' : 'on'} needs a restart (nothing was reloaded)`);
      }
      if (tlsEnabled(tls) && next.controller.tls.clientAuth !== currentTls.clientAuth) {
        throw new Error(`controller.tls.clientAuth: changing it (${currentTls.clientAuth} → ${next.controller.tls.clientAuth}) needs a restart (nothing was reloaded)`);
      }
      if (tlsEnabled(tls)) {
        reloadCertificates(app.server as unknown as HttpsServer, next.controller.tls);
        currentTls = next.controller.tls;
        certificates = 'reloaded';
      }
      auth = nextAuth;
      const report = { tokens: next.controller.auth.tokens.length, clientPrincipals: next.controller.tls.clientPrincipals.length, certificates };
      log.info(report, 'security settings reloaded');
      if (requestId) await opts.audit?.end(requestId, { status: 200 }).catch(() => undefined);
      return report;
    } catch (err) {
      if (requestId) await opts.audit?.end(requestId, { status: 500, reason: (err as Error).message }).catch(() => undefined);
      throw err;
    }
  });

  if (tlsEnabled(tls)) {
    // a handshake the server refuses (a client certificate of another CA, none under clientAuth: require,
    // plain HTTP on the HTTPS port) is said once per remote address and reason per minute: why agents cannot connect
    const said = new Map<string, number>();
    app.server.on('tlsClientError', (err: Error, socket: { remoteAddress?: string }) => {
      const key = `${socket.remoteAddress}|${err.message}`;
      const now = Date.now();
      if ((said.get(key) ?? 0) > now - 60_000) return;
      if (said.size > 1000) said.clear();
      said.set(key, now);
      log.warn({ component: 'controller', remote: socket.remoteAddress, reason: err.message }, 'TLS handshake refused');
    });
  }

  if (tlsEnabled(tls) && tls.watch) {
    const stop = watchCertificates(tls, () => {
      try {
        reloadCertificates(app.server as unknown as HttpsServer, currentTls);
        log.info({ cert: currentTls.cert }, 'controller certificate files changed: reloaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'controller certificate files changed but are not usable: keeping the previous ones');
      }
    });
    app.addHook('onClose', async () => stop());
  }

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
