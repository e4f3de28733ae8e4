import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainRedisFailure, redisConnectionOptions } from '../../billing/jobs/connection';
import { TestCa, writePem } from '../../lib/certs';
import { amqpTlsOptions, explainAmqpFailure } from '../../pipeline/amqp/connection';
import { connectStore } from '../../pipeline/ingest/pipeline-factory';
import { checkKafkaConnection, createKafka, kafkaSecurity } from '../../pipeline/kafka/client';
import { mongoUri } from '../support/services';
import { REPO } from '../support/paths';

/**
 * The start-up errors an operator meets when a certificate has expired, for every transport the
 * product dials: a server whose certificate expired (a real TLS handshake against a TLS listener made
 * here; the handshake fails before any Kafka, AMQP, Redis or MongoDB byte is exchanged, so the listener
 * need not speak the protocol), and a client certificate of our own that expired (named before
 * dialling). MongoDB's stand-in has no TLS, so MongoDB over TLS is shown through a TLS-terminating
 * proxy in front of it (as stunnel or an Envoy sidecar would be): the driver's TLS options in store.uri
 * are exercised for real, success and failures alike.
 */
const DAY = 86_400_000;
const ca = new TestCa('handshake test CA');
const other = new TestCa('a CA nobody configured');
const dir = mkdtempSync(path.join(tmpdir(), 'metering-handshakes-'));
const caFile = path.join(dir, 'ca.crt');
writeFileSync(caFile, ca.cert);
const otherCaFile = path.join(dir, 'other-ca.crt');
writeFileSync(otherCaFile, other.cert);
const expiredValidity = { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) };
const expiredClient = writePem(dir, 'expired-client', ca.client('metering', undefined, expiredValidity));

const servers: net.Server[] = [];
/** A TLS listener on 127.0.0.1 with `pem`; each accepted connection is handed to `onSecure` (or closed). */
async function tlsListener(pem: { cert: string; key: string }, onSecure: (s: tls.TLSSocket) => void = (s) => s.destroy()): Promise<number> {
  const server = tls.createServer({ cert: pem.cert, key: pem.key }, onSecure);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

let expiredPort = 0;
beforeAll(async () => {
  expiredPort = await tlsListener(ca.server('localhost', expiredValidity));
});
afterAll(() => {
  for (const s of servers) s.close();
});

describe('a server whose certificate has expired: the start-up error names the setting and says so', () => {
  it('Kafka (kafka.ssl)', async () => {
    const cfg = { brokers: [`127.0.0.1:${expiredPort}`], clientId: 'test', ssl: { enabled: true, ca: caFile }, sasl: { mechanism: 'none' as const, username: '', password: '' } };
    await expect(checkKafkaConnection(createKafka(cfg), cfg)).rejects.toThrow(/^kafka\.ssl: TLS handshake with 127\.0\.0\.1:\d+ failed: .*certificate has expired.*; the broker certificate has expired/);
  }, 60_000);

  it('RabbitMQ (amqps:// in amqp.url)', async () => {
    const cfg = { url: `amqps://guest:rabbit-pw@localhost:${expiredPort}/`, tls: { ca: caFile } };
    const err = await amqp.connect(cfg.url, { timeout: 5000, ...amqpTlsOptions(cfg) } as never).then(() => undefined, (e: Error) => e);
    const message = explainAmqpFailure(err!, cfg);
    expect(message).toMatch(/^amqp\.url: the certificate of RabbitMQ at amqps:\/\/\*\*\*@localhost:\d+\/ has expired: certificate has expired/);
    expect(message).not.toContain('rabbit-pw');
  });

  it('Redis (rediss:// in redis.url)', async () => {
    const url = `rediss://:redis-pw@127.0.0.1:${expiredPort}`;
    const client = new Redis({ ...redisConnectionOptions(url, { ca: caFile }), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let reason: Error | undefined;
    client.on('error', (e: Error) => (reason ??= e));
    const err = await client.connect().then(() => undefined, (e: Error) => e);
    client.disconnect();
    const message = explainRedisFailure((reason ?? err)!, url);
    expect(message).toMatch(/^redis\.url: the certificate of Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ has expired: certificate has expired/);
  });

  it('MongoDB (tls=true in store.uri)', async () => {
    const uri = `mongodb://metering:mongo-pw@127.0.0.1:${expiredPort}/?directConnection=true&tls=true&tlsCAFile=${encodeURIComponent(caFile)}`;
    const err = await connectStore({ uri, database: 'x', serverSelectionTimeoutMs: 3000 } as never).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^store\.uri: the certificate of MongoDB at mongodb:\/\/metering:<redacted>@127\.0\.0\.1:\d+\/.* has expired: .*certificate has expired/);
    expect(err?.message).not.toContain('mongo-pw');
  });
});

describe('as `metering serve` says it', () => {
  it('stops with one line naming the setting (no stack trace) and exit status 1', async () => {
    const file = path.join(dir, 'serve.yaml');
    writeFileSync(file, `controller:\n  port: 0\nstore:\n  uri: "mongodb://metering:mongo-pw@127.0.0.1:${expiredPort}/?directConnection=true&tls=true&tlsCAFile=${encodeURIComponent(caFile)}"\n  serverSelectionTimeoutMs: 3000\n`);
    // asynchronously: the TLS listener lives in this process's event loop
    const r = await promisify(execFile)(process.execPath, [path.join(REPO, 'bin/metering.mjs'), '--config', file, 'serve'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MONGODB_URI: '', METERING_LOG_LEVEL: 'silent' } }).then(
      () => ({ status: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ status: e.code, stderr: e.stderr ?? '' }),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^metering: store\.uri: the certificate of MongoDB at mongodb:\/\/metering:<redacted>@127\.0\.0\.1:\d+\/.* has expired/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('mongo-pw');
  }, 60_000);
});

describe('our own client certificate has expired: refused before dialling, naming the setting', () => {
  it('kafka.ssl.cert, amqp.tls.cert, redis.tls.cert', () => {
    const expired = new RegExp(`the certificate in ${expiredClient.cert.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(CN=metering.*\\) expired on \\d{4}-\\d{2}-\\d{2}T`);
    expect(() => kafkaSecurity({ brokers: ['x:9093'], clientId: 't', ssl: { enabled: true, ca: caFile, cert: expiredClient.cert, key: expiredClient.key } })).toThrow(new RegExp(`^kafka\\.ssl\\.cert: ${expired.source}`));
    expect(() => amqpTlsOptions({ url: 'amqps://u:p@localhost:5671/', tls: { ca: caFile, cert: expiredClient.cert, key: expiredClient.key } })).toThrow(new RegExp(`^amqp\\.tls\\.cert: ${expired.source}`));
    expect(() => redisConnectionOptions('rediss://localhost:6380', { ca: caFile, cert: expiredClient.cert, key: expiredClient.key })).toThrow(new RegExp(`^redis\\.tls\\.cert: ${expired.source}`));
  });
});

describe('MongoDB over TLS through a TLS-terminating proxy in front of the stand-in', () => {
  let proxyPort = 0;
  beforeAll(async () => {
    const target = new URL(mongoUri().replace(/^mongodb:\/\//, 'http://'));
    proxyPort = await tlsListener(ca.server('localhost'), (client) => {
      const upstream = net.connect(Number(target.port || 27017), target.hostname);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
  });

  it('connects with tls=true and tlsCAFile; a CA that did not sign the server is named as store.uri', async () => {
    const uri = (caPath: string) => `mongodb://localhost:${proxyPort}/?directConnection=true&tls=true&tlsCAFile=${encodeURIComponent(caPath)}`;
    const { client } = await connectStore({ uri: uri(caFile), database: 'tls_probe', serverSelectionTimeoutMs: 5000 } as never);
    expect((await client.db('tls_probe').command({ ping: 1 })).ok).toBe(1);
    await client.close();
    const err = await connectStore({ uri: uri(otherCaFile), database: 'tls_probe', serverSelectionTimeoutMs: 3000 } as never).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^store\.uri: TLS handshake with MongoDB at mongodb:\/\/localhost:\d+\/.* failed: .*(self[- ]signed|unable to verify|certificate)/i);
  });
});
