import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, writePem } from '../../lib/certs';
import { isolation } from '../support/isolation';
import { exited, freePort, spawnController, until } from '../support/processes';
import { mongoTier, mongoUri } from '../support/services';

/**
 * Secrets and certificates in a cluster of controllers, as an operator runs it: two `metering serve`
 * processes (cluster.enabled, HTTPS only) against one store. Each reads its own file; editing the files
 * and sending SIGHUP to each rotates the tokens, adds one that expires seconds later, and swaps each
 * controller's certificate (file watching off, so SIGHUP is what reloads it), with no restart. The
 * shared audit log says which controller reloaded.
 */
const iso = isolation(import.meta.url);
const ADMIN = 'cluster-security-admin-0001';
const OLD = 'cluster-security-reader-old-01';
const NEW = 'cluster-security-reader-new-01';
const SHORT = 'cluster-security-short-lived-1';
const sha = (t: string) => `sha256:${createHash('sha256').update(t).digest('hex')}`;
const ca = new TestCa('cluster security CA');
const dir = mkdtempSync(path.join(tmpdir(), 'metering-cluster-tls-'));
const IDS = ['sec-c1', 'sec-c2'] as const;
const ports = new Map<string, number>();
const children = new Map<string, ChildProcess & { stderrText: () => string }>();
let client: MongoClient;

interface Answer { status?: number; body?: string; serial?: string; error?: string }
function call(url: string, token?: string): Promise<Answer> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const req = lib.request(url, { ca: ca.cert, agent: false, timeout: 3000, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      const serial = (res.socket as { getPeerCertificate?: () => { serialNumber?: string } }).getPeerCertificate?.()?.serialNumber?.toUpperCase();
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, serial }));
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
const url = (id: string, p: string) => `https://127.0.0.1:${ports.get(id)}${p}`;

function writeConfig(id: string, tokens: string): string {
  const file = path.join(dir, `${id}.yaml`);
  const tls = path.join(dir, id);
  writeFileSync(
    file,
    [
      'controller:',
      `  port: ${ports.get(id)}`,
      `  tls: {cert: ${tls}/server.crt, key: ${tls}/server.key, watch: false}`,
      '  auth:',
      '    tokens:',
      `      - {name: ops, token: "${sha(ADMIN)}", roles: [admin]}`,
      tokens,
      'store:',
      `  database: ${iso.dbName()}`,
      `  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}`,
      `redis: {prefix: ${iso.queuePrefix()}}`,
      'console: {enabled: false}',
      `cluster: {enabled: true, id: ${id}}`,
      '',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  client = await new MongoClient(mongoUri()).connect();
  for (const id of IDS) {
    ports.set(id, await freePort());
    writePem(path.join(dir, id), 'server', ca.server());
    const child = spawnController(writeConfig(id, `      - {name: planner, token: "${OLD}", roles: [read]}`), { env: { METERING_LOG_LEVEL: 'warn' }, keepStderr: true });
    children.set(id, child);
  }
  for (const id of IDS) await until(`controller ${id} to answer over HTTPS (${children.get(id)!.stderrText()})`, async () => (await call(url(id, '/healthz'))).status === 200, 120_000, 200);
}, 180_000);

afterAll(async () => {
  for (const c of children.values()) c.kill('SIGTERM');
  await Promise.all([...children.values()].map((c) => Promise.race([exited(c), new Promise((r) => setTimeout(r, 15_000))])));
  for (const c of children.values()) if (c.exitCode === null) c.kill('SIGKILL');
  await client?.db(iso.dbName()).dropDatabase().catch(() => undefined);
  await client?.close();
});

describe('token rotation, expiry and certificate reload on every controller of a cluster', () => {
  it('HTTPS only on each; SIGHUP rotates tokens, adds an expiring one and swaps the certificate on each; the audit log names the controller', async () => {
    for (const id of IDS) {
      const plain = await call(`http://127.0.0.1:${ports.get(id)}/healthz`);
      expect(plain.status === undefined || plain.status >= 400, `${id} answered plain HTTP`).toBe(true);
      expect((await call(url(id, '/metrics'), OLD)).status, id).toBe(200);
    }
    // the operator: a new planner token (as its digest), a token valid for 6 more seconds, renewed certificates; then SIGHUP each
    const expires = new Date(Date.now() + 6000).toISOString();
    const renewed = new Map<string, string>();
    for (const id of IDS) {
      const next = ca.server();
      const tmp = writePem(path.join(dir, `${id}-next`), 'server', next);
      renameSync(tmp.key, path.join(dir, id, 'server.key'));
      renameSync(tmp.cert, path.join(dir, id, 'server.crt'));
      renewed.set(id, new X509Certificate(next.cert).serialNumber.toUpperCase());
      writeConfig(id, `      - {name: planner, token: "${sha(NEW)}", roles: [read]}\n      - {name: short, token: ${SHORT}, roles: [read], expires: "${expires}"}`);
      children.get(id)!.kill('SIGHUP');
    }
    for (const id of IDS) {
      await until(`${id} to reload`, async () => (await call(url(id, '/metrics'), NEW)).status === 200, 10_000);
      expect((await call(url(id, '/metrics'), OLD)).status, `${id}: the rotated-away token`).toBe(401);
      expect((await call(url(id, '/metrics'), SHORT)).status, `${id}: the short-lived token before its expiry`).toBe(200);
      expect((await call(url(id, '/healthz'))).serial, `${id}: the renewed certificate`).toBe(renewed.get(id));
    }
    for (const id of IDS) {
      const expired = await until(`${id}: the short-lived token to expire`, async () => {
        const r = await call(url(id, '/metrics'), SHORT);
        return r.status === 401 ? r : undefined;
      }, 15_000, 250);
      expect(JSON.parse(expired.body!).reason, id).toBe(`token "short" expired at ${expires}`);
    }
    const audit = JSON.parse((await call(url('sec-c1', '/v1/audit?who=SIGHUP'), ADMIN)).body!).entries as Array<{ controller?: string; outcome: string }>;
    expect(audit.map((e) => [e.controller, e.outcome]).sort()).toEqual(IDS.map((id) => [id, 'ok']));
  }, 120_000);
});
