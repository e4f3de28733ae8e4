import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../app/config';
import { AuditLog } from '../../controller/audit';
import { auditRoutes } from '../../controller/audit-routes';
import { ProductMetrics } from '../../controller/metrics';
import { buildController, principalOf } from '../../controller/server';
import { TestCa, writePem } from '../../lib/certs';
import { createLogger } from '../../lib/log';
import { isolation } from '../support/isolation';
import { connect, dropDb } from '../pipeline/ingest/helpers';

const ADMIN = 'admin-token-0123456789';
const READER = 'reader-token-0123456789';
const sha = (t: string) => `sha256:${createHash('sha256').update(t).digest('hex')}`;
const DAY = 86_400_000;

const ca = new TestCa('metering test CA');
const otherCa = new TestCa('someone else');
const dir = mkdtempSync(path.join(tmpdir(), 'metering-tls-'));
const caFile = path.join(dir, 'ca.crt');
writeFileSync(caFile, ca.cert);
const server = writePem(dir, 'server', ca.server());
const agent = ca.client('agent-7', 'agents');
const stranger = ca.client('stranger');
const forged = otherCa.client('agent-7', 'agents');

function captureLog() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger('test', 'info', sink) };
}

function config(yaml: string) {
  return parseConfig(yaml, 'test.yaml', {});
}

const tlsYaml = (clientAuth: string, extraTokens = '') =>
  `controller:\n  port: 0\n  tls:\n    cert: ${server.cert}\n    key: ${server.key}\n    ca: ${caFile}\n    clientAuth: ${clientAuth}\n` +
  `    clientPrincipals:\n      - {subject: "CN=agent-7,OU=agents", name: host-agent-7, roles: [ingest, read]}\n` +
  `  auth:\n    tokens:\n      - {name: ops, token: "${sha(ADMIN)}", roles: [admin]}\n${extraTokens}`;

interface Answer {
  status?: number;
  body?: string;
  error?: string;
  peerSerial?: string;
}

function request(url: string, options: https.RequestOptions & { body?: string } = {}): Promise<Answer> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const req = lib.request(url, { ...options, timeout: 5000 }, (res) => {
      let body = '';
      const peer = (res.socket as { getPeerCertificate?: () => { serialNumber?: string } }).getPeerCertificate?.();
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, peerSerial: peer?.serialNumber }));
    });
    req.on('error', (err) => resolve({ error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}

async function listen(app: FastifyInstance): Promise<string> {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return address.replace('localhost', '127.0.0.1');
}

const withRoutes = [
  (a: FastifyInstance) => {
    a.get('/v1/whoami', { config: { roles: ['read', 'ingest'] } }, async (req) => ({ who: principalOf(req).name, via: principalOf(req).via }));
    a.post('/v1/dangerous/:id', { config: { roles: ['admin'] } }, async (req) => ({ done: (req.params as { id: string }).id }));
    a.post('/v1/dangerous-fails', { config: { roles: ['admin'] } }, async (_req, reply) => reply.code(409).send({ error: 'conflict' }));
  },
];

describe('controller HTTPS', () => {
  it('serves HTTPS with the configured certificate and refuses plain HTTP on the same port', async () => {
    const { log } = captureLog();
    const app = await buildController({ config: config(tlsYaml('none')), log, metrics: new ProductMetrics(false), routes: withRoutes });
    const url = await listen(app);
    expect(url.startsWith('https://')).toBe(true);
    const ok = await request(`${url}/healthz`, { ca: ca.cert });
    expect(ok.status).toBe(200);
    const plain = await request(`${url.replace('https:', 'http:')}/healthz`);
    expect(plain.status === undefined || plain.status >= 400).toBe(true); // never a 200 over plain text
    if (plain.status !== undefined) expect(plain.body).not.toContain('"ok"');
    // a client that does not trust the CA refuses the server
    expect((await request(`${url}/healthz`, { ca: otherCa.cert })).error).toMatch(/self[- ]signed|unable to verify|certificate/i);
    // sha256: tokens authenticate without the file holding the token
    expect((await request(`${url}/metrics`, { ca: ca.cert, headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    await app.close();
  });

  it('mutual TLS: a verified client certificate maps to its principal; none, a foreign CA or an unknown subject is refused', async () => {
    const { log, lines } = captureLog();
    const app = await buildController({ config: config(tlsYaml('require')), log, metrics: new ProductMetrics(false), routes: withRoutes });
    const url = await listen(app);
    const asAgent = await request(`${url}/v1/whoami`, { ca: ca.cert, cert: agent.cert, key: agent.key });
    expect(asAgent.status).toBe(200);
    expect(JSON.parse(asAgent.body!)).toEqual({ who: 'host-agent-7', via: 'certificate' });
    // roles still apply to certificate principals
    expect((await request(`${url}/v1/dangerous/x`, { method: 'POST', ca: ca.cert, cert: agent.cert, key: agent.key })).status).toBe(403);
    // no certificate: the handshake itself fails
    expect((await request(`${url}/v1/whoami`, { ca: ca.cert })).error).toBeDefined();
    // same subject, signed by another CA: refused in the handshake, and the controller says why and from where
    expect((await request(`${url}/v1/whoami`, { ca: ca.cert, cert: forged.cert, key: forged.key })).error).toBeDefined();
    await expect.poll(() => lines.join('')).toMatch(/"remote":"127\.0\.0\.1".*TLS handshake refused|TLS handshake refused.*"remote":"127\.0\.0\.1"/);
    // trusted, but no principal configured for it
    const unknown = await request(`${url}/v1/whoami`, { ca: ca.cert, cert: stranger.cert, key: stranger.key });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toContain('CN=stranger');
    // a bearer token over mutual TLS still works (and wins over the certificate)
    const token = await request(`${url}/metrics`, { ca: ca.cert, cert: stranger.cert, key: stranger.key, headers: { authorization: `Bearer ${ADMIN}` } });
    expect(token.status).toBe(200);
    expect(lines.join('')).not.toContain(ADMIN);
    await app.close();
  });

  it('reloads a renewed certificate from its files without a restart, and rotates tokens on reload', async () => {
    const { log } = captureLog();
    const cfg = config(tlsYaml('none', `      - {name: planner, token: ${READER}, roles: [read]}\n`));
    const app = await buildController({ config: cfg, log, metrics: new ProductMetrics(false), routes: withRoutes });
    const url = await listen(app);
    const first = await request(`${url}/healthz`, { ca: ca.cert, agent: false });
    const before = new X509Certificate(readFileSync(server.cert)).serialNumber;
    expect(first.peerSerial?.toUpperCase()).toBe(before.toUpperCase());
    // a certificate tool renews the pair: new files moved into place
    const renewed = ca.server('localhost');
    const tmp = writePem(path.join(dir, 'next'), 'server', renewed);
    renameSync(tmp.key, server.key);
    renameSync(tmp.cert, server.cert);
    const after = new X509Certificate(renewed.cert).serialNumber.toUpperCase();
    let seen: string | undefined;
    for (let i = 0; i < 50 && seen !== after; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await request(`${url}/healthz`, { ca: ca.cert, agent: false })).peerSerial?.toUpperCase();
    }
    expect(seen).toBe(after);

    // token rotation: the planner's token is replaced by a new one (as a SIGHUP reload does)
    const NEW = 'rotated-reader-token-0123';
    expect((await request(`${url}/metrics`, { ca: ca.cert, headers: { authorization: `Bearer ${READER}` } })).status).toBe(200);
    const report = await app.reloadSecurity(config(tlsYaml('none', `      - {name: planner, token: "${sha(NEW)}", roles: [read]}\n`)), 'test');
    expect(report).toEqual({ tokens: 2, clientPrincipals: 1, certificates: 'reloaded' });
    expect((await request(`${url}/metrics`, { ca: ca.cert, headers: { authorization: `Bearer ${READER}` } })).status).toBe(401);
    expect((await request(`${url}/metrics`, { ca: ca.cert, headers: { authorization: `Bearer ${NEW}` } })).status).toBe(200);

    // what a reload cannot change on a listening server is refused, not silently ignored: the running settings stay
    await expect(app.reloadSecurity(config(tlsYaml('require', `      - {name: planner, token: "${sha(NEW)}", roles: [read]}\n`)), 'test')).rejects.toThrow(/controller\.tls\.clientAuth: changing it \(none → require\) needs a restart/);
    const plainApp = await buildController({ config: config(`controller:\n  auth:\n    tokens:\n      - {name: ops, token: "${sha(ADMIN)}", roles: [admin]}\n`), log, metrics: new ProductMetrics(false) });
    await expect(plainApp.reloadSecurity(config(tlsYaml('none')), 'test')).rejects.toThrow(/controller\.tls: turning HTTPS on needs a restart/);
    await plainApp.close();
    expect((await request(`${url}/metrics`, { ca: ca.cert, headers: { authorization: `Bearer ${NEW}` } })).status).toBe(200);
    await app.close();
  });

  it('refuses to start with an expired certificate, a key of another certificate, or a missing file, naming the setting', async () => {
    const { log } = captureLog();
    const expired = writePem(path.join(dir, 'expired'), 'server', ca.server('localhost', { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }));
    const yamlWith = (cert: string, key: string) => `controller:\n  tls:\n    cert: ${cert}\n    key: ${key}\n`;
    await expect(buildController({ config: config(yamlWith(expired.cert, expired.key)), log })).rejects.toThrow(/controller\.tls\.cert: the certificate in .* expired on/);
    const other = writePem(path.join(dir, 'other'), 'server', ca.server());
    await expect(buildController({ config: config(yamlWith(server.cert, other.key)), log })).rejects.toThrow(/controller\.tls: cert .* are not usable together/);
    // controller.tls.ca that holds no certificate, or an expired CA: every client certificate would be refused without a word
    const withCa = (caPath: string) => `controller:\n  tls:\n    cert: ${server.cert}\n    key: ${server.key}\n    ca: ${caPath}\n    clientAuth: require\n`;
    const notPem = path.join(dir, 'not-a-ca.pem');
    writeFileSync(notPem, readFileSync(server.key));
    await expect(buildController({ config: config(withCa(notPem)), log })).rejects.toThrow(/^controller\.tls\.ca: .*not-a-ca\.pem holds no PEM certificate/);
    const expiredCaFile = path.join(dir, 'expired-ca.crt');
    writeFileSync(expiredCaFile, new TestCa('old CA', { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }).cert);
    await expect(buildController({ config: config(withCa(expiredCaFile)), log })).rejects.toThrow(/^controller\.tls\.ca: the certificate in .*expired-ca\.crt \(CN=old CA.*\) expired on/);
    expect(() => config(yamlWith('/nonexistent/cert.pem', server.key))).toThrow(/test\.yaml:\d+: controller\.tls\.cert: file not found: \/nonexistent\/cert\.pem/);
    expect(() => config(`controller:\n  tls:\n    cert: ${server.cert}\n`)).toThrow(/controller\.tls\.key: cert and key go together/);
    expect(() => config(`controller:\n  tls:\n    cert: ${server.cert}\n    key: ${server.key}\n    clientAuth: require\n`)).toThrow(/controller\.tls\.ca: clientAuth: require needs ca/);
  });
});

describe('tokens and secrets', () => {
  it('sha256: tokens, token expiry, and file: secrets', async () => {
    const secretFile = path.join(dir, 'admin-token');
    writeFileSync(secretFile, `${ADMIN}\n`);
    const { log, lines } = captureLog();
    const cfg = config(
      `controller:\n  auth:\n    tokens:\n` +
        `      - {name: ops, token: "file:${secretFile}", roles: [admin]}\n` +
        `      - {name: hashed, token: "${sha(READER)}", roles: [read]}\n` +
        `      - {name: old, token: old-token-0123456789xx, roles: [read], expires: "2020-01-01"}\n` +
        `      - {name: later, token: later-token-0123456789x, roles: [read], expires: "2999-01-01T00:00:00"}\n`,
    );
    expect(cfg.controller.auth.tokens[0]!.token).toBe(ADMIN);
    const app = await buildController({ config: cfg, log, metrics: new ProductMetrics(false) });
    const as = (t: string) => app.inject({ url: '/metrics', headers: { authorization: `Bearer ${t}` } });
    expect((await as(ADMIN)).statusCode).toBe(200);
    expect((await as(READER)).statusCode).toBe(200);
    expect((await as(sha(READER))).statusCode).toBe(401); // the digest itself is not a token
    const old = await as('old-token-0123456789xx');
    expect(old.statusCode).toBe(401);
    expect(old.json().reason).toMatch(/token "old" expired at 2020-01-01T00:00:00.000Z/);
    expect((await as('later-token-0123456789x')).statusCode).toBe(200);
    await app.close();
    expect(lines.join('')).not.toMatch(/old-token-0123456789xx|admin-token-0123456789/);

    expect(() => config(`controller:\n  auth:\n    tokens:\n      - {name: x, token: "file:/nonexistent/secret", roles: [read]}\n`)).toThrow(/test\.yaml:4: controller\.auth\.tokens\[0\]\.token: cannot read secret file \/nonexistent\/secret/);
    expect(() => config(`controller:\n  auth:\n    tokens:\n      - {name: x, token: "sha256:abc", roles: [read]}\n`)).toThrow(/sha256:<64 lowercase hex digits>/);
    expect(() => config(`controller:\n  auth:\n    tokens:\n      - {name: x, token: long-enough-token-xyz, roles: [read], expires: "next week"}\n`)).toThrow(/expires: expected an ISO 8601 date/);
  });

  it('no log line carries a secret: tokens, passwords, telemetry secret, credentials in connection strings', () => {
    const { log, lines } = captureLog();
    log.info({ config: { kafka: { sasl: { password: 'sasl-secret-value' } }, ingest: { telemetrySecret: 'telemetry-secret-value' }, store: { uri: 'mongodb://u:mongo-secret-value@h/' } }, token: 'bare-token-value-123456' }, 'starting with redis://:redis-secret-value@127.0.0.1:6379');
    const text = lines.join('');
    for (const secret of ['sasl-secret-value', 'telemetry-secret-value', 'mongo-secret-value', 'bare-token-value-123456', 'redis-secret-value']) expect(text).not.toContain(secret);
    expect(text).toContain('<redacted>');
  });
});

describe('audit log (real MongoDB)', () => {
  const iso = isolation(import.meta.url);
  let client: MongoClient;
  beforeAll(async () => {
    client = await connect();
  });
  afterAll(async () => {
    await dropDb(client.db(iso.dbName('audit')));
    await client?.close();
  });

  it('records every admin action with who, what, when and outcome, refused ones too; GET /v1/audit is admin only', async () => {
    const db = client.db(iso.dbName('audit'));
    const audit = new AuditLog(db, { w: 1 });
    await audit.ensureIndexes();
    const { log } = captureLog();
    const cfg = config(`controller:\n  auth:\n    tokens:\n      - {name: ops, token: ${ADMIN}, roles: [admin]}\n      - {name: planner, token: ${READER}, roles: [read]}\n`);
    const app = await buildController({ config: cfg, log, metrics: new ProductMetrics(false), audit, routes: [...withRoutes, auditRoutes(audit)] });
    const as = (t: string, url: string, method: 'GET' | 'POST' = 'POST') => app.inject({ url, method, headers: { authorization: `Bearer ${t}` } });
    expect((await as(ADMIN, '/v1/dangerous/inv-42?actuate=true')).statusCode).toBe(200);
    expect((await as(ADMIN, '/v1/dangerous-fails')).statusCode).toBe(409);
    expect((await as(READER, '/v1/dangerous/inv-43')).statusCode).toBe(403);
    expect((await as(ADMIN, '/v1/whoami', 'GET')).statusCode).toBe(200); // reads are not audited
    await app.reloadSecurity(cfg, 'operator@console');

    const res = await as(ADMIN, '/v1/audit?limit=10', 'GET');
    expect(res.statusCode).toBe(200);
    const entries = res.json().entries as Array<Record<string, unknown>>;
    expect(entries.map((e) => [e.who, e.action, e.outcome, e.status])).toEqual([
      ['operator@console', 'reload security (tokens, client principals, certificates)', 'ok', 200],
      ['planner', 'POST /v1/dangerous/:id', 'refused', 403], // refused, and who tried
      ['ops', 'POST /v1/dangerous-fails', 'failed', 409],
      ['ops', 'POST /v1/dangerous/:id', 'ok', 200],
    ]);
    expect(entries[3]).toMatchObject({ via: 'token', target: { id: 'inv-42', actuate: 'true' } });
    expect(typeof entries[3]!.at).toBe('string');
    expect((await as(READER, '/v1/audit', 'GET')).statusCode).toBe(403);
    expect(JSON.parse((await as(ADMIN, '/v1/audit?who=ops', 'GET')).body).entries).toHaveLength(2);
    await app.close();
  });

  it('over mutual TLS the audit names the certificate principal, or the subject of a certificate no principal is configured for', async () => {
    const db = client.db(iso.dbName('audit'));
    const audit = new AuditLog(db, { w: 1 });
    const { log } = captureLog();
    const app = await buildController({ config: config(tlsYaml('request')), log, metrics: new ProductMetrics(false), audit, routes: [...withRoutes, auditRoutes(audit)] });
    const url = await listen(app);
    const since = new Date().toISOString();
    expect((await request(`${url}/v1/dangerous/by-agent`, { method: 'POST', ca: ca.cert, cert: agent.cert, key: agent.key })).status).toBe(403);
    expect((await request(`${url}/v1/dangerous/by-stranger`, { method: 'POST', ca: ca.cert, cert: stranger.cert, key: stranger.key })).status).toBe(401);
    const res = await request(`${url}/v1/audit?since=${since}`, { ca: ca.cert, headers: { authorization: `Bearer ${ADMIN}` } });
    const entries = JSON.parse(res.body!).entries as Array<Record<string, unknown>>;
    expect(entries.map((e) => [e.who, e.via, e.outcome, e.status, (e.target as { id: string }).id])).toEqual([
      ['CN=stranger,O=metering', 'certificate', 'refused', 401, 'by-stranger'],
      ['host-agent-7', 'certificate', 'refused', 403, 'by-agent'],
    ]);
    await app.close();
  });

  it('an admin action that cannot be audited does not run (503)', async () => {
    let ran = false;
    // the store holding the audit log is unreachable (nothing listens on that port)
    const down = new MongoClient('mongodb://127.0.0.1:9/?directConnection=true', { serverSelectionTimeoutMS: 300 });
    const audit = new AuditLog(down.db('audit_down'), { w: 1 });
    const { log } = captureLog();
    const cfg = config(`controller:\n  auth:\n    tokens:\n      - {name: ops, token: ${ADMIN}, roles: [admin]}\n`);
    const app = await buildController({
      config: cfg,
      log,
      metrics: new ProductMetrics(false),
      audit,
      routes: [
        (a) => {
          a.post('/v1/act', { config: { roles: ['admin'] } }, async () => {
            ran = true;
            return { ok: true };
          });
        },
      ],
    });
    const res = await app.inject({ url: '/v1/act', method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(ran).toBe(false);
    await app.close();
    await down.close();
  });
});
