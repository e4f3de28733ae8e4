import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import type { Db, MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { amqpUrl, mongoUri } from '../../support/services';
import { amqpConfig, type AmqpConfig } from '../../../pipeline/amqp/config';
import { createIngestion, type Ingestion } from '../../../pipeline/ingest/pipeline-factory';
import { signMessage, signSample } from '../../../pipeline/ceilometer/sign';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import type { Sample } from '../../../pipeline/sample';
import { launchRabbitMq } from '../../../services/rabbitmq';
import { freePort, stopPid } from '../../../services/proc';
import { connect, CuttableProxy, dropDb, makeSample, makeSamples, testIngestConfig, testStoreConfig } from '../ingest/helpers';
import { TestCa, writePem } from '../../../lib/certs';

// The RabbitMQ consumer against a real broker: notifications are published exactly as oslo.messaging's
// rabbit driver publishes them (topic exchange `ceilometer`, routing key and queue `<topic>.sample`,
// kombu JSON body {"oslo.version": "2.0", "oslo.message": "<notification>"}); Ceilometer's own publisher
// is exercised in test/interop/ceilometer-transports.test.ts.

const iso = isolation(import.meta.url);
const SECRET = 'amqp-test-secret';
let client: MongoClient;
let conn: ChannelModel;
let ch: Channel;
const dbs: Db[] = [];
const closers: Array<() => Promise<unknown>> = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** One oslo notification carrying `samples` as signed meter messages (what oslo's notifier sends). */
function notification(samples: readonly Sample[], eventType = 'metering', secret = SECRET): Buffer {
  return notificationOf(samples.map((s) => signSample(s, secret)), eventType);
}

/** One oslo notification whose payload is `messages` as given (meter messages, possibly poison). */
function notificationOf(messages: readonly Record<string, unknown>[], eventType = 'metering'): Buffer {
  const note = {
    message_id: crypto.randomUUID(),
    publisher_id: 'telemetry.publisher.test',
    event_type: eventType,
    priority: 'SAMPLE',
    payload: messages,
    timestamp: '2026-01-01 00:00:00.000000',
    _unique_id: crypto.randomUUID().replace(/-/g, ''),
  };
  return Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(note) }));
}

function cfg(over: Partial<AmqpConfig>): AmqpConfig {
  return amqpConfig.parse({ url: amqpUrl(), reconnectInitialMs: 100, reconnectMaxMs: 500, ...over });
}

/** Publish as kombu does: persistent, JSON content type, to the topic exchange. */
function publish(channel: Channel, exchange: string, topic: string, body: Buffer): void {
  channel.publish(exchange, `${topic}.sample`, body, { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
}

/** Declare exchange and queue as oslo's notify_send / _publish_and_creates_default_queue do. */
async function declareLikeOslo(channel: Channel, exchange: string, topic: string, durable = false): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable, autoDelete: false });
  await channel.assertQueue(`${topic}.sample`, { durable, autoDelete: false });
  await channel.bindQueue(`${topic}.sample`, exchange, `${topic}.sample`);
}

async function ingestion(d: Db, amqpCfg: AmqpConfig, storeDb: Db = d): Promise<Ingestion> {
  const ing = await createIngestion(
    { store: testStoreConfig(d.databaseName), ingest: testIngestConfig({ telemetrySecret: SECRET, storeDownAfterFailures: 2, retryMaxMs: 300 }), amqp: amqpCfg },
    { db: storeDb, amqp: true },
  );
  closers.push(() => ing.close());
  return ing;
}

const storedIds = async (d: Db) => (await d.collection(COLLECTIONS.meter).find({}, { projection: { message_id: 1 } }).toArray()).map((x) => x.message_id as string);

beforeAll(async () => {
  client = await connect();
  conn = await amqp.connect(amqpUrl());
  ch = await conn.createChannel();
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await conn?.close().catch(() => undefined);
  for (const d of dbs) await dropDb(d);
  await client?.close();
});

describe('RabbitMQ notification consumer', () => {
  it('stores every sample of the default and a custom topic (per-meter event_types too) once, dead-letters poison messages with their reason and acknowledges everything', async () => {
    const d = client.db(iso.dbName('forms'));
    dbs.push(d);
    const exchange = `ceilometer_${iso.id}`;
    const [deflt, custom] = [`metering_${iso.id}`, `billing_${iso.id}`];
    await declareLikeOslo(ch, exchange, deflt);
    await declareLikeOslo(ch, exchange, custom);
    const a = makeSamples(25);
    const b = makeSamples(10);
    const c = makeSamples(5, { counter_name: 'cpu' });
    const forged = makeSamples(2);
    publish(ch, exchange, deflt, notification(a.slice(0, 20), deflt));
    publish(ch, exchange, deflt, notification(a.slice(20), deflt));
    publish(ch, exchange, custom, notification(b, custom));
    publish(ch, exchange, custom, notification(c, `${custom}.cpu`)); // per_meter_topic
    publish(ch, exchange, deflt, notification(a.slice(0, 5), deflt)); // a redelivery of the same samples
    publish(ch, exchange, deflt, Buffer.from('{"oslo.version": "2.0", "oslo.message": "{broken'));
    publish(ch, exchange, deflt, notification(makeSamples(3), 'compute.instance.exists'));
    publish(ch, exchange, custom, notification(forged, custom, 'not-the-secret'));

    const ing = await ingestion(d, cfg({ exchange, topics: [deflt, custom] }));
    const consumer = ing.amqpConsumer!;
    await waitFor('8 notifications acknowledged', () => consumer.stats.acked >= 8);
    const ids = await storedIds(d);
    expect(ids.length).toBe(40);
    expect(new Set(ids)).toEqual(new Set([...a, ...b, ...c].map((s) => s.message_id)));
    const letters = await d.collection(COLLECTIONS.deadLetter).find().toArray();
    const reasons = letters.map((l) => String(l.reason)).sort();
    expect(letters.every((l) => l.source === 'amqp')).toBe(true);
    expect(reasons).toHaveLength(4);
    expect(reasons.filter((r) => r.startsWith('message_signature'))).toHaveLength(2);
    expect(reasons.some((r) => r.startsWith('event_type: expected one of') && r.includes('"compute.instance.exists"'))).toBe(true);
    expect(reasons.some((r) => r.startsWith('value: invalid JSON'))).toBe(true);
    for (const q of [deflt, custom]) expect((await ch.checkQueue(`${q}.sample`)).messageCount).toBe(0);
  });

  it('acknowledges only after the store took the samples: killed while the store is down, nothing is lost and nothing stored twice; prefetch bounds what it holds', async () => {
    const d = client.db(iso.dbName('outage'));
    dbs.push(d);
    const exchange = `ceilometer_${iso.id}`;
    const topic = `outage_${iso.id}`;
    await declareLikeOslo(ch, exchange, topic);
    const proxy = CuttableProxy.forUri(mongoUri());
    await proxy.up();
    closers.push(() => proxy.down());
    const viaProxy = await connect(proxy.uri(), 400);
    closers.push(() => viaProxy.close());

    const first = await ingestion(d, cfg({ exchange, topics: [topic], prefetch: 4 }), viaProxy.db(d.databaseName));
    const batches = Array.from({ length: 20 }, () => makeSamples(5));
    publish(ch, exchange, topic, notification(batches[0]!, topic));
    await waitFor('the first notification stored', async () => (await storedIds(d)).length === 5);

    await proxy.down(); // the store goes away: the consumer takes deliveries but cannot store them
    for (const b of batches.slice(1)) publish(ch, exchange, topic, notification(b, topic));
    await waitFor('the prefetch window filled', () => first.amqpConsumer!.inHand === 4);
    await sleep(500);
    expect(first.amqpConsumer!.inHand).toBe(4); // never more than prefetch unacknowledged
    expect(first.amqpConsumer!.stats.messages).toBe(5);
    expect((await ch.checkQueue(`${topic}.sample`)).messageCount).toBe(15);

    await first.amqpConsumer!.kill(); // a crash: nothing in hand was acknowledged
    first.ingestor.abort();
    await waitFor('the unacknowledged notifications back in the queue', async () => (await ch.checkQueue(`${topic}.sample`)).messageCount === 19);
    await proxy.up();

    const second = await ingestion(d, cfg({ exchange, topics: [topic], prefetch: 4 }));
    await waitFor('every notification acknowledged', async () => second.amqpConsumer!.stats.acked >= 19 && (await ch.checkQueue(`${topic}.sample`)).messageCount === 0);
    const ids = await storedIds(d);
    expect(ids.length).toBe(100);
    expect(new Set(ids)).toEqual(new Set(batches.flat().map((s) => s.message_id)));
  }, 60_000);
});

describe('RabbitMQ poison samples alone, first and last in a notification', () => {
  it('[poison, 5 valid, poison] and a lone poison (delivered twice), then 10 valid notifications: every valid sample stored once, 3 dead letters with their positions, the queue drained with nothing requeued', async () => {
    const d = client.db(iso.dbName('poison'));
    dbs.push(d);
    const exchange = `ceilometer_${iso.id}`;
    const topic = `poison_${iso.id}`;
    await declareLikeOslo(ch, exchange, topic);
    // poison the parser refuses (no counter_name) and poison the store screen refuses (a NUL in a metadata key), both correctly signed
    const nulKey = (s: Sample) => signSample({ ...s, resource_metadata: { 'k\u0000': 'v' } }, SECRET);
    const noCounterName = (s: Sample) => {
      const { counter_name: _gone, message_signature: _sig, ...rest } = signSample(s, SECRET);
      return signMessage(rest, SECRET);
    };
    const [first, last, lone] = [makeSample({ resource_id: 'amqp-poison' }), makeSample({ resource_id: 'amqp-poison' }), makeSample({ resource_id: 'amqp-poison' })];
    const amid = makeSamples(5);
    const later = Array.from({ length: 10 }, () => makeSamples(2));
    publish(ch, exchange, topic, notificationOf([nulKey(first), ...amid.map((s) => signSample(s, SECRET)), noCounterName(last)], topic));
    const loneBody = notificationOf([nulKey(lone)], topic);
    publish(ch, exchange, topic, loneBody);
    publish(ch, exchange, topic, loneBody); // the same notification delivered again: one dead letter, not two
    for (const b of later) publish(ch, exchange, topic, notification(b, topic));

    const ing = await ingestion(d, cfg({ exchange, topics: [topic] }));
    const consumer = ing.amqpConsumer!;
    await waitFor('13 notifications acknowledged', async () => consumer.stats.acked >= 13 && (await ch.checkQueue(`${topic}.sample`)).messageCount === 0);
    const ids = await storedIds(d);
    expect(ids).toHaveLength(25);
    expect(new Set(ids)).toEqual(new Set([...amid, ...later.flat()].map((s) => s.message_id)));
    const letters = await d.collection(COLLECTIONS.deadLetter).find().toArray();
    expect(letters).toHaveLength(3);
    expect(letters.every((l) => l.source === 'amqp')).toBe(true);
    const summary = letters.map((l) => ({ message_id: l.message_id as string | undefined, index: l.index as number, reason: String(l.reason) }));
    const nul = /resource_metadata: key "k\\u0000" contains a NUL character/;
    expect(summary.find((l) => l.message_id === first.message_id)).toMatchObject({ index: 0, reason: expect.stringMatching(nul) });
    expect(summary.find((l) => l.message_id === lone.message_id)).toMatchObject({ index: 0, reason: expect.stringMatching(nul) });
    const missing = letters.find((l) => /counter_name: missing/.test(String(l.reason)));
    expect(missing).toMatchObject({ index: 6 });
    expect(String(missing!.payload)).toContain(last.message_id);
    // drained: every delivery acknowledged once, none handed back to the broker, nothing held
    await sleep(300);
    expect(consumer.stats).toMatchObject({ messages: 13, acked: 13, redelivered: 0 });
    // the counters say what happened: 25 samples taken in, the parser's 1 reject, the screen's 3
    // refusals (the lone poison once per delivery), none of them counted as samples
    expect(consumer.stats).toMatchObject({ samples: 25, rejects: 1, refused: 3 });
    expect(ing.ingestor.metrics.snapshot()).toMatchObject({ metering_ingest_amqp_samples_refused_total: 3, metering_ingest_samples_refused_total: 3 });
    expect(consumer.inHand).toBe(0);
    expect((await ch.checkQueue(`${topic}.sample`)).messageCount).toBe(0);
  }, 60_000);
});

describe('RabbitMQ restart', () => {
  it('survives a broker restart with durable queues: reconnects, and every sample is stored exactly once', async () => {
    // a broker of this test's own, so restarting it disturbs no other test
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metering-rabbit-'));
    const port = await freePort();
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const start = () => launchRabbitMq({ dir, port, nodeName: `metering-test-${port}@localhost`, startedBy: 'tests' });
    let broker = await start();
    closers.push(async () => {
      await stopPid(broker.pid);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const d = client.db(iso.dbName('restart'));
    dbs.push(d);
    const topic = 'metering';
    const pub = async (batches: Sample[][]) => {
      const c = await amqp.connect(url);
      const confirm = await c.createConfirmChannel();
      await declareLikeOslo(confirm, 'ceilometer', topic, true);
      for (const b of batches) publish(confirm, 'ceilometer', topic, notification(b, topic));
      await confirm.waitForConfirms();
      await c.close();
    };
    const before = Array.from({ length: 10 }, () => makeSamples(4));
    await pub(before);
    const ing = await ingestion(d, cfg({ url, durableQueues: true, prefetch: 8 }));
    await waitFor('the first notifications stored', async () => (await storedIds(d)).length === 40);

    await stopPid(broker.pid); // clean broker stop; persistent messages in durable queues survive
    await sleep(300);
    expect(ing.amqpConsumer!.connected).toBe(false);
    broker = await start();
    const after = Array.from({ length: 10 }, () => makeSamples(4));
    await pub(after);
    await waitFor('reconnected and every notification stored', async () => ing.amqpConsumer!.connected && (await storedIds(d)).length >= 80, 60_000);
    await sleep(500);
    const ids = await storedIds(d);
    expect(ids.length).toBe(80);
    expect(new Set(ids)).toEqual(new Set([...before, ...after].flat().map((s) => s.message_id)));
    expect(ing.amqpConsumer!.stats.reconnects).toBeGreaterThanOrEqual(1);
  }, 240_000);
});

describe('RabbitMQ over TLS (amqps://, amqp.tls)', () => {
  // a broker of this test's own with a TLS listener that requires a client certificate of its CA
  const ca = new TestCa('metering amqps test CA');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metering-rabbit-tls-'));
  const caFile = path.join(dir, 'ca.crt');
  let tlsPort = 0;
  let client1: { cert: string; key: string };
  beforeAll(async () => {
    fs.writeFileSync(caFile, ca.cert);
    const server = writePem(dir, 'server', ca.server('localhost'));
    client1 = writePem(dir, 'client', ca.client('metering-ingest'));
    const port = await freePort();
    tlsPort = await freePort();
    const broker = await launchRabbitMq({ dir, port, nodeName: `metering-tls-${port}@localhost`, startedBy: 'tests', tls: { port: tlsPort, ca: caFile, ...server, requireClientCert: true } });
    closers.push(async () => {
      await stopPid(broker.pid);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }, 120_000);
  const url = () => `amqps://guest:guest@localhost:${tlsPort}`;

  it('consumes notifications over amqps with the configured CA and client certificate, each sample stored once', async () => {
    const d = client.db(iso.dbName('amqps'));
    dbs.push(d);
    const topic = 'metering';
    const samples = makeSamples(12);
    const pubConn = await amqp.connect(url(), { ca: [fs.readFileSync(caFile)], cert: fs.readFileSync(client1.cert), key: fs.readFileSync(client1.key), servername: 'localhost' });
    const pub = await pubConn.createConfirmChannel();
    await declareLikeOslo(pub, 'ceilometer', topic);
    publish(pub, 'ceilometer', topic, notification(samples.slice(0, 6), topic));
    publish(pub, 'ceilometer', topic, notification(samples.slice(6), topic));
    await pub.waitForConfirms();
    await pubConn.close();
    const ing = await ingestion(d, cfg({ url: url(), tls: { ca: caFile, ...client1 } }));
    expect(ing.amqpConsumer!.connected).toBe(true);
    await waitFor('12 samples stored', async () => (await storedIds(d)).length === 12);
    expect(new Set(await storedIds(d))).toEqual(new Set(samples.map((s) => s.message_id)));
  }, 60_000);

  it('refuses to start with an error naming the setting: untrusted broker certificate (amqp.tls.ca), no client certificate (amqp.tls.cert), plain amqp:// to the TLS port, a wrong password (amqp.url)', async () => {
    const d = client.db(iso.dbName('amqps-bad'));
    dbs.push(d);
    const otherCa = path.join(dir, 'other-ca.crt');
    fs.writeFileSync(otherCa, new TestCa('another CA').cert);
    await expect(ingestion(d, cfg({ url: url(), tls: { ca: otherCa, ...client1 } }))).rejects.toThrow(/amqp\.tls\.ca: the certificate of RabbitMQ at amqps:\/\/\*\*\*@localhost/);
    await expect(ingestion(d, cfg({ url: url(), tls: { ca: caFile } }))).rejects.toThrow(/amqp\.tls\.cert/);
    await expect(ingestion(d, cfg({ url: `amqp://guest:guest@localhost:${tlsPort}` }))).rejects.toThrow(/^amqp\.url: RabbitMQ at amqp:\/\/\*\*\*@localhost/);
    // a wrong password over TLS: the handshake succeeds, the broker refuses the login; the password is not repeated
    const wrongPassword = await ingestion(d, cfg({ url: `amqps://guest:not-the-password@localhost:${tlsPort}`, tls: { ca: caFile, ...client1 } })).then(() => undefined, (e: Error) => e.message);
    expect(wrongPassword).toMatch(/^amqp\.url: RabbitMQ at amqps:\/\/\*\*\*@localhost:\d+ refused the credentials in the URL/);
    expect(wrongPassword).not.toContain('not-the-password');
  }, 60_000);

  it('the configuration refuses TLS files with a plain amqp:// URL, and files that do not exist', () => {
    const plain = amqpConfig.safeParse({ url: 'amqp://localhost:5672', tls: { ca: caFile } });
    expect(plain.success).toBe(false);
    expect(plain.error!.issues[0]!.message).toMatch(/use amqps:\/\//);
    const missing = amqpConfig.safeParse({ url: 'amqps://localhost:5671', tls: { ca: '/nonexistent/ca.crt' } });
    expect(missing.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toContain('tls.ca: file not found: /nonexistent/ca.crt');
  });
});
