import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildController, principalOf } from '../../controller/server';
import { parseConfig } from '../../app/config';
import { ProductMetrics } from '../../controller/metrics';

const ADMIN = 'admin-token-0123456789';
const INGEST = 'ingest-token-0123456789';
const READER = 'reader-token-0123456789-p1';

function setup(extra = '') {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
  const config = parseConfig(
    `controller:\n  auth:\n    tokens:\n` +
      `      - {name: ops, token: ${ADMIN}, roles: [admin]}\n` +
      `      - {name: ceilometer, token: ${INGEST}, roles: [ingest]}\n` +
      `      - {name: planner-p1, token: ${READER}, roles: [read], project: p1}\n${extra}`,
    'test.yaml',
    {},
  );
  const log = pino({ level: 'info' }, sink);
  return { lines, config, log };
}

describe('controller', () => {
  it('answers health without a token and refuses protected routes without one (401)', async () => {
    const { config, log } = setup();
    const app = await buildController({ config, log, metrics: new ProductMetrics(false) });
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    await app.close();
  });

  it('applies roles: read may scrape metrics, ingest may not (403), admin may do everything', async () => {
    const { config, log } = setup();
    const app = await buildController({
      config,
      log,
      metrics: new ProductMetrics(false),
      routes: [
        (a) => {
          a.post('/v1/things', { config: { roles: ['ingest'] } }, async (req) => ({ who: principalOf(req).name }));
        },
      ],
    });
    const as = (token: string, url: string, method: 'GET' | 'POST' = 'GET') => app.inject({ url, method, headers: { authorization: `Bearer ${token}` } });
    expect((await as(READER, '/metrics')).statusCode).toBe(200);
    expect((await as(INGEST, '/metrics')).statusCode).toBe(403);
    expect((await as(ADMIN, '/metrics')).statusCode).toBe(200);
    expect((await as(INGEST, '/v1/things', 'POST')).json()).toEqual({ who: 'ceilometer' });
    expect((await as(READER, '/v1/things', 'POST')).statusCode).toBe(403);
    expect((await as('not-a-token-at-all-xx', '/v1/things', 'POST')).statusCode).toBe(401);
    // Ceilometer's http:// publisher sends URL userinfo as HTTP Basic: the password is the token.
    const basic = (cred: string) => app.inject({ url: '/v1/things', method: 'POST', headers: { authorization: `Basic ${Buffer.from(cred).toString('base64')}` } });
    expect((await basic(`ceilometer:${INGEST}`)).json()).toEqual({ who: 'ceilometer' });
    expect((await basic('ceilometer:wrong-password-value')).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/things', method: 'POST', headers: { authorization: 'Token abc' } })).json().reason).toMatch(/malformed Authorization header/);
    await app.close();
  });

  it('logs refused requests without the token', async () => {
    const { config, log, lines } = setup();
    const app = await buildController({ config, log, metrics: new ProductMetrics(false) });
    await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${INGEST}` } });
    await app.inject({ url: '/metrics', headers: { authorization: 'Bearer leaked-secret-value-123' } });
    await app.close();
    const refused = lines.filter((l) => l.includes('request refused'));
    expect(refused).toHaveLength(2);
    expect(lines.join('')).not.toContain(INGEST);
    expect(lines.join('')).not.toContain('leaked-secret-value-123');
    expect(refused[0]).toContain('lacks role read');
  });

  it('exposes request counters and auth failures in Prometheus text format', async () => {
    const { config, log } = setup();
    const metrics = new ProductMetrics(false);
    let stored = 41;
    metrics.registerSnapshot('samples stored', () => ({ metering_test_samples_stored_total: stored, metering_test_buffer_samples: 3 }));
    const app = await buildController({ config, log, metrics });
    await app.inject({ url: '/healthz' });
    await app.inject({ url: '/metrics' }); // 401
    stored = 42;
    const text = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${READER}` } })).body;
    expect(text).toMatch(/metering_http_requests_total\{route="\/healthz",method="GET",status="200"\} 1/);
    expect(text).toMatch(/metering_http_auth_failures_total\{status="401"\} 1/);
    expect(text).toMatch(/# TYPE metering_test_samples_stored_total counter\nmetering_test_samples_stored_total 42/);
    expect(text).toMatch(/metering_test_buffer_samples 3/);
    await app.close();
  });

  it('serves metrics without a token only when publicMetrics is set', async () => {
    const { config, log } = setup('  publicMetrics: true\n');
    const app = await buildController({ config, log, metrics: new ProductMetrics(false) });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
    await app.close();
  });

  it('reports readiness per dependency and answers 503 while one is down', async () => {
    const { config, log } = setup();
    let storeUp = false;
    const app = await buildController({
      config,
      log,
      metrics: new ProductMetrics(false),
      readiness: {
        store: async () => { if (!storeUp) throw new Error('connection refused'); },
        queue: async () => {},
      },
    });
    const down = await app.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.store).toEqual({ ok: false, error: 'connection refused' });
    storeUp = true;
    expect((await app.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready', checks: { store: { ok: true }, queue: { ok: true } } });
    await app.close();
  });

  it('describes every route in its OpenAPI document', async () => {
    const { config, log } = setup();
    const app = await buildController({
      config,
      log,
      metrics: new ProductMetrics(false),
      routes: [(a) => { a.get('/v1/example', { config: { roles: ['read'] }, schema: { summary: 'an example' } }, async () => ({})); }],
    });
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/example']));
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    // who may call each route is part of its description
    expect(doc.paths['/v1/example'].get.description).toBe('Roles: read, admin.');
    expect(doc.paths['/healthz'].get.description).toBe('No token needed.');
    await app.close();
  });
});
