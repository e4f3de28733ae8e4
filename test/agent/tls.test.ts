import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConnectionOptions } from '../../billing/jobs/connection';
import type { Application } from '../../controller/app';
import { AGENT_NODE_FLAGS } from '../../agent/bench';
import { httpsFetch, loadClientTls } from '../../agent/tls-client';
import { TestCa, writePem } from '../../lib/certs';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { findExecutable, freePort, portOpen } from '../../services/proc';
import { isolation } from '../support/isolation';
import { REPO } from '../support/paths';
import { controller, READ, SECRET, waitFor } from './helpers';

/**
 * The agent against a controller that speaks only HTTPS with mutual TLS (controller.tls.clientAuth:
 * require, docs/security.md): the agent's own entry, given the CA (--ca) and its client certificate
 * (--cert, --key) and no token, registers as the principal its certificate subject maps to, publishes
 * signed window samples over HTTPS and answers raw-data requests; `agent top` reads the hosts' series
 * with an operator's certificate. The request queue the controller hands out is rediss:// (Debian's
 * redis-server started here with a plain port for the controller and a TLS port that requires client
 * certificates for the agent): the agent reaches it with the same files. Certificates are made on the
 * spot (lib/certs.ts).
 */
const iso = isolation(import.meta.url);
const HOST = `tls-${iso.id}`.replace(/_/g, '-');
const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-tls-'));
const dataDir = path.join(dir, 'data');
const ca = new TestCa('agent tls test CA');
const foreign = new TestCa('someone else');
const caFile = path.join(dir, 'ca.crt');
writeFileSync(caFile, ca.cert);
const server = writePem(dir, 'controller', ca.server());
const agentCert = writePem(dir, 'agent', ca.client(HOST, 'agents'));
const opsCert = writePem(dir, 'ops', ca.client('ops', 'operators'));
const forgedCert = writePem(dir, 'forged', foreign.client(HOST, 'agents'));

const redisServer = findExecutable('redis-server', ['/usr/sbin', '/usr/bin']);
let redis: ChildProcess | undefined;
const PREFIX = `t-${iso.id}`;
const AGENT_REDIS_PASSWORD = 'agent-redis-password';
let agentRedisUrl = '';
let app: Application;
let agent: ChildProcess | undefined;
let agentLog = '';
const env: NodeJS.ProcessEnv = { ...process.env, METERING_TELEMETRY_SECRET: SECRET, METERING_LOG_LEVEL: 'warn' };
delete env.METERING_AGENT_TOKEN;
delete env.METERING_TOKEN;
const agentEntry = path.join(REPO, 'bin/metering-agent.mjs');

const get = (url: string) => app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ}` } });
const alive = async () => ((await get('/v1/agents')).json().agents as Array<{ host: string; alive: boolean }>).some((a) => a.host === HOST && a.alive);

beforeAll(async () => {
  if (!redisServer) throw new Error('redis-server not found (scripts/ensure.mjs installs it from Debian): needed for the rediss:// request queue');
  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  const redisCert = writePem(dir, 'redis', ca.server());
  // agents get a Redis user that may only publish and subscribe on the agent channels (docs/agent.md)
  const aclUser = ['--user', 'metering-agent', 'on', `>${AGENT_REDIS_PASSWORD}`, 'resetchannels', `&${PREFIX}:*`, 'resetkeys', '-@all', '+publish', '+subscribe', '+ping', '+info'];
  redis = spawn(redisServer, ['--port', String(plainPort), '--tls-port', String(tlsPort), '--bind', '127.0.0.1', '--tls-cert-file', redisCert.cert, '--tls-key-file', redisCert.key, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'yes', '--save', '', '--appendonly', 'no', '--dir', dir, ...aclUser], { stdio: 'ignore' });
  agentRedisUrl = `rediss://metering-agent:${AGENT_REDIS_PASSWORD}@127.0.0.1:${tlsPort}`;
  await waitFor('redis-server listening', async () => (await portOpen(plainPort)) && (await portOpen(tlsPort)), 15_000, 100);
  app = await controller(iso.dbName(), PREFIX, {
    redisUrl: `redis://127.0.0.1:${plainPort}`,
    advertiseRedisUrl: agentRedisUrl,
    tls: {
      cert: server.cert,
      key: server.key,
      ca: caFile,
      clientAuth: 'require',
      clientPrincipals: [
        { subject: 'OU=agents', name: 'host-agents', roles: ['ingest'] },
        { subject: 'CN=ops,OU=operators', name: 'ops', roles: ['read'] },
      ],
    },
  });
  expect(app.url).toMatch(/^https:\/\//);
  agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, agentEntry, 'run', '--interval', '1', '--window', '2', '--host', HOST, '--data-dir', dataDir, '--controller', app.url!, '--ca', caFile, '--cert', agentCert.cert, '--key', agentCert.key], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout!.on('data', (b: Buffer) => (agentLog += b.toString()));
  agent.stderr!.on('data', (b: Buffer) => (agentLog += b.toString()));
  await waitFor(`agent ${HOST} registered over mutual TLS (log: ${agentLog})`, alive, 90_000);
}, 120_000);

afterAll(async () => {
  agent?.kill('SIGKILL');
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  redis?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('the agent and a controller with mutual TLS', () => {
  it('registers with its client certificate (no token), publishes signed window samples over HTTPS and answers raw-data requests', async () => {
    const meter = app.services.db.collection(COLLECTIONS.meter);
    const doc = await waitFor(`a window sample over HTTPS (log: ${agentLog})`, () => meter.findOne({ resource_id: HOST, counter_name: 'hardware.memory.total' }), 30_000);
    expect(doc!.message_signature).toMatch(/^[0-9a-f]{64}$/);
    expect(doc!.resource_metadata.window.count).toBeGreaterThanOrEqual(1);
    const raw = await get(`/v1/resources/${HOST}/raw?meter=hardware.memory.used&from=${new Date(Date.now() - 600_000).toISOString()}`);
    expect(raw.statusCode, raw.body).toBe(200);
    expect(raw.json().host).toBe(HOST);
    expect(raw.json().points.length).toBeGreaterThan(0);
  });

  it('`agent top --once` reads the hosts series over mutual TLS with an operator certificate', async () => {
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [agentEntry, 'top', '--controller', app.url!, '--ca', caFile, '--cert', opsCert.cert, '--key', opsCert.key, '--hosts', HOST, '--meter', 'hardware.memory.used', '--span', '600', '--once'], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').find((l) => l.startsWith(HOST))).toMatch(/\bok\s+\d+\s+[\d.e+]+.*[▁▂▃▄▅▆▇█]+$/);
  }, 70_000);

  it('without a client certificate, or with one from another CA, the controller refuses the handshake', async () => {
    const url = `${app.url}/v1/agents`;
    await expect(httpsFetch(loadClientTls({ ca: caFile })!)(url)).rejects.toThrow(/fetch failed/);
    await expect(httpsFetch(loadClientTls({ ca: caFile, cert: forgedCert.cert, key: forgedCert.key })!)(url)).rejects.toThrow(/fetch failed/);
    // the agent's certificate is authenticated, and its principal has no role read
    const res = await httpsFetch(loadClientTls({ ca: caFile, cert: agentCert.cert, key: agentCert.key })!)(url);
    expect(res.status).toBe(403);
    expect((await res.json()).reason ?? '').toContain('host-agents');
    // a client that does not trust the controller's CA refuses the controller
    await expect(httpsFetch(loadClientTls({ ca: path.join(dir, 'forged.crt'), cert: agentCert.cert, key: agentCert.key })!)(url)).rejects.toThrow(/fetch failed/);
    // an agent given the CA (here by agent.host.tls_ca in its configuration file) but no certificate
    // keeps polling and says why it cannot register: the controller wants a certificate (had the CA not
    // been used, the agent would have refused the controller's certificate instead)
    const cfg = path.join(dir, 'ca-only.yaml');
    writeFileSync(cfg, `agent:\n  host:\n    tls_ca: ${caFile}\n`);
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [agentEntry, '-c', cfg, 'run', '--interval', '1', '--window', '2', '--duration', '2', '--host', `${HOST}-nocert`, '--data-dir', path.join(dir, 'nocert'), '--publish', `file:${path.join(dir, 'nocert.jsonl')}`, '--controller', app.url!], { cwd: REPO, env, timeout: 60_000 }, (_err, stdout, stderr) => resolve({ stdout, stderr }));
    });
    expect(r.stderr).toMatch(/registration failed; retrying/);
    expect(r.stderr).toMatch(/fetch failed: .*certificate required/);
    expect(r.stdout).toMatch(/stopped: [1-9]\d* polls/);
  }, 70_000);

  it('the Redis user handed to agents may use the agent channels and nothing else', async () => {
    const r = new Redis({ ...redisConnectionOptions(agentRedisUrl, { ca: caFile, cert: agentCert.cert, key: agentCert.key }), lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      expect(await r.publish(`${PREFIX}:heartbeat`, '{}')).toBeGreaterThanOrEqual(1); // the controller listens
      await expect(r.publish('bull:other', 'x')).rejects.toThrow(/NOPERM/);
      await expect(r.keys('*')).rejects.toThrow(/NOPERM/);
      await expect(r.set('x', '1')).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });

  it('refuses unusable TLS options with exit code 2 and a line naming the option', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [agentEntry, 'run', '--duration', '1', '--data-dir', path.join(dir, 'refused'), ...args], { encoding: 'utf8', cwd: REPO, env, timeout: 60_000 });
    const noKey = run('--controller', app.url!, '--cert', agentCert.cert);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/--key: --cert and --key go together/);
    const missing = run('--controller', app.url!, '--ca', path.join(dir, 'nope.crt'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--ca: cannot read .*nope\.crt: file not found/);
    const wrongKey = run('--controller', app.url!, '--cert', agentCert.cert, '--key', opsCert.key);
    expect(wrongKey.status).toBe(2);
    expect(wrongKey.stderr).toMatch(/--cert\/--key: .*key/i);
    const plain = run('--controller', 'http://127.0.0.1:1', '--ca', caFile);
    expect(plain.status).toBe(2);
    expect(plain.stderr).toMatch(/--ca\/--cert\/--key apply to https:\/\/ URLs/);
    const expired = writePem(dir, 'expired', ca.client(HOST, 'agents', { notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }));
    const old = run('--controller', app.url!, '--ca', caFile, '--cert', expired.cert, '--key', expired.key);
    expect(old.status).toBe(2);
    expect(old.stderr).toMatch(/--cert: the certificate in .*expired\.crt \(.*CN=tls-.*\) expired on \d{4}-/);
    // the same files from agent.host: errors name the setting; without any https:// URL they are left unused
    const half = path.join(dir, 'half.yaml');
    writeFileSync(half, `agent:\n  host:\n    tls_cert: ${agentCert.cert}\n`);
    const fromFile = spawnSync(process.execPath, [agentEntry, '-c', half, 'run', '--duration', '1', '--data-dir', path.join(dir, 'refused'), '--controller', app.url!], { encoding: 'utf8', cwd: REPO, env, timeout: 60_000 });
    expect(fromFile.status).toBe(2);
    expect(fromFile.stderr).toMatch(/agent\.host\.tls_key: agent\.host\.tls_cert and agent\.host\.tls_key go together/);
    const unused = spawnSync(process.execPath, [agentEntry, '-c', half, 'run', '--duration', '1', '--quiet', '--data-dir', path.join(dir, 'unused'), '--publish', `file:${path.join(dir, 'unused.jsonl')}`], { encoding: 'utf8', cwd: REPO, env, timeout: 60_000 });
    expect(unused.status, unused.stderr).toBe(0);
    const top = spawnSync(process.execPath, [agentEntry, 'top', '--controller', app.url!, '--key', opsCert.key, '--once'], { encoding: 'utf8', cwd: REPO, env, timeout: 60_000 });
    expect(top.status).toBe(2);
    expect(top.stderr).toMatch(/--cert: --cert and --key go together/);
  }, 60_000);
});
