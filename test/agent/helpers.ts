import { createServer } from 'node:net';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { agentModule } from '../../agent/module';
import { redisUrl } from '../support/services';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';

export const ADMIN = 'agent-test-admin-token';
export const READ = 'agent-test-read-token';
export const P1 = 'agent-test-read-scoped-p1';
export const INGEST = 'agent-test-ingest-token';
/** An ingest token scoped to project p1 (a tenant's, e.g. for its own Ceilometer). */
export const P1_INGEST = 'agent-test-ingest-scoped-p1';
export const SECRET = 'agent-test-telemetry-secret';
export const log = pino({ level: 'silent' });

/** A TCP port nothing listens on (yet). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The controller with the agent module: real Redis for request/reply, real MongoDB for the samples, signatures checked. */
export async function controller(database: string, prefix: string, over: { port?: number; timeoutMs?: number; tls?: Record<string, unknown>; redisUrl?: string; advertiseRedisUrl?: string } = {}): Promise<Application> {
  const config = meteringConfig.parse({
    controller: {
      port: over.port ?? 0,
      ...(over.tls ? { tls: over.tls } : {}),
      auth: {
        tokens: [
          { name: 'admin', token: ADMIN, roles: ['admin'] },
          { name: 'reader', token: READ, roles: ['read'] },
          { name: 'tenant-p1', token: P1, roles: ['read'], project: 'p1' },
          { name: 'agent', token: INGEST, roles: ['ingest'] },
          { name: 'tenant-p1-ingest', token: P1_INGEST, roles: ['ingest'], project: 'p1' },
        ],
      },
    },
    store: testStoreConfig(database),
    ingest: testIngestConfig({ telemetrySecret: SECRET, signaturePolicy: 'reject' }),
    redis: { url: over.redisUrl ?? redisUrl() },
    agent: { controller: { channel_prefix: prefix, request_timeout_ms: over.timeoutMs ?? 1500, ...(over.advertiseRedisUrl ? { advertise_redis_url: over.advertiseRedisUrl } : {}) } },
  });
  return startApplication({ config, log, listen: true, kafka: false, modules: [agentModule] });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
