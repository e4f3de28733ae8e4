import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, writePem } from '../../lib/certs';
import { connectStore } from '../../pipeline/ingest/pipeline-factory';
import { explainRedisFailure, redisConnectionOptions } from '../../billing/jobs/connection';
import { findExecutable, freePort, portOpen } from '../../services/proc';
import { mongoUri } from '../support/services';
import { parseConfig } from '../../app/config';
import { agentModule, type AgentControllerModule } from '../../agent/module';
import type { AppServices } from '../../controller/app';
import { ProductMetrics } from '../../controller/metrics';
import { createLogger } from '../../lib/log';

// Redis over TLS: Debian's redis-server started here with a TLS port and a certificate from a CA
// made at test time; the product reaches it through rediss:// and redis.tls. MongoDB takes TLS and
// credentials through store.uri; a failure names that setting.

const ca = new TestCa('redis test CA');
const other = new TestCa('another CA');
const dir = mkdtempSync(path.join(tmpdir(), 'metering-redis-tls-'));
const caFile = path.join(dir, 'ca.crt');
const otherCaFile = path.join(dir, 'other-ca.crt');
writeFileSync(caFile, ca.cert);
writeFileSync(otherCaFile, other.cert);
const server = writePem(dir, 'redis', ca.server());
const redisServer = findExecutable('redis-server', ['/usr/sbin', '/usr/bin']);
let child: ChildProcess | undefined;
let port = 0;

describe.skipIf(!redisServer)('Redis over TLS (rediss://)', () => {
  beforeAll(async () => {
    port = await freePort();
    child = spawn(redisServer!, ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', server.cert, '--tls-key-file', server.key, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', 'redis-tls-password'], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    while (!(await portOpen(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with rediss:// and the CA from redis.tls.ca; a wrong CA or password is explained naming the setting', async () => {
    const good = new Redis({ ...redisConnectionOptions(`rediss://:redis-tls-password@127.0.0.1:${port}`, { ca: caFile }), lazyConnect: true });
    await good.connect();
    expect(await good.ping()).toBe('PONG');
    good.disconnect();

    const failure = async (url: string, caPath: string): Promise<string> => {
      const client = new Redis({ ...redisConnectionOptions(url, { ca: caPath }), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      // the reason arrives on 'error' (as the jobs module's monitor receives it); connect() only says the connection closed
      let reason: Error | undefined;
      client.on('error', (e: Error) => (reason ??= e));
      const err = await client.connect().then(() => client.ping()).then(() => undefined, (e: Error) => e);
      client.disconnect();
      expect(reason ?? err).toBeInstanceOf(Error);
      return explainRedisFailure((reason ?? err)!, url);
    };
    const wrongCa = await failure(`rediss://:redis-tls-password@127.0.0.1:${port}`, otherCaFile);
    expect(wrongCa).toMatch(/^redis\.url\/redis\.tls: TLS with Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ failed: .*(self[- ]signed|unable to verify|certificate)/i);
    const wrongPassword = await failure(`rediss://:not-the-password@127.0.0.1:${port}`, caFile);
    expect(wrongPassword).toMatch(/^redis\.url: Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ refused the credentials/);
    expect(wrongPassword).not.toContain('not-the-password');
    expect(() => redisConnectionOptions(`rediss://127.0.0.1:${port}`, { ca: '/nonexistent/ca.pem' })).toThrow(/^redis\.tls\.ca: cannot read \/nonexistent\/ca\.pem/);
  });

  it("the controller's agent request broker uses rediss:// with redis.tls, and says which setting is wrong when it cannot", async () => {
    const agentSide = async (url: string, ca: string) => {
      const lines: string[] = [];
      const sink = new Writable({ write: (chunk, _e, cb) => cb(void lines.push(String(chunk))) });
      const config = parseConfig(`redis:\n  url: "${url}"\n  tls:\n    ca: ${ca}\n`, 'test.yaml', {});
      const m = (await agentModule({ config, log: createLogger('test', 'info', sink), metrics: new ProductMetrics(false) } as unknown as AppServices)) as AgentControllerModule;
      return { m, lines };
    };
    const good = await agentSide(`rediss://:redis-tls-password@127.0.0.1:${port}`, caFile);
    try {
      expect(good.m.broker()).toBeDefined();
      await good.m.broker()!.ping();
    } finally {
      await good.m.close?.();
    }
    const wrongCa = await agentSide(`rediss://:redis-tls-password@127.0.0.1:${port}`, otherCaFile);
    await wrongCa.m.close?.();
    expect(wrongCa.m.broker()).toBeUndefined();
    expect(wrongCa.lines.join('')).toMatch(/agent request broker not connected \(retrying every 5 s\): redis\.url\/redis\.tls: TLS with Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ failed: .*(self[- ]signed|unable to verify|certificate)/i);
    const wrongPassword = await agentSide(`rediss://:not-the-password@127.0.0.1:${port}`, caFile);
    await wrongPassword.m.close?.();
    expect(wrongPassword.m.broker()).toBeUndefined();
    expect(wrongPassword.lines.join('')).toMatch(/redis\.url: Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ refused the credentials/);
    expect(wrongPassword.lines.join('')).not.toContain('not-the-password');
  });
});

describe('MongoDB connection problems name store.uri', () => {
  it('a server that does not answer the URI’s TLS settings: the error names store.uri and hides the password', async () => {
    const uri = mongoUri().replace('mongodb://', 'mongodb://someone:mongo-secret-pw@').replace('?', '?tls=true&tlsCAFile=' + encodeURIComponent(caFile) + '&authSource=admin&');
    const err = await connectStore({ uri, database: 'x', serverSelectionTimeoutMs: 800 } as never).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^store\.uri: (TLS handshake with|cannot connect to|MongoDB at)/);
    expect(err?.message).not.toContain('mongo-secret-pw');
  });
});
