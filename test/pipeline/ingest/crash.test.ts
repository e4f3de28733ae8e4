import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { kafkaBrokers, mongoTier, mongoUri, redisUrl } from '../../support/services';
import { REPO } from '../../support/paths';
import { createKafka, ensureTopics } from '../../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../../pipeline/kafka/producer';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import type { Sample } from '../../../pipeline/sample';
import { connect, makeSamples } from './helpers';

/**
 * kill -9 of the controller (`metering serve`) while it ingests from Kafka and HTTP at once, then a
 * restart: every sample is stored exactly once (issue 10: the repeatable form of the kill -9 scenario).
 * The HTTP sender behaves like Ceilometer's publisher: it resends a body until it gets 200. The Kafka
 * samples are published while the controller runs (as Ceilometer's Kafka publisher would), and the
 * test checks that the kill came while both streams were still being stored: otherwise the restart
 * would have nothing to recover.
 */

const iso = isolation(import.meta.url);
const TOKEN = 'ingest-token-for-the-crash-test';
const KAFKA_SAMPLES = 1500;
const HTTP_SAMPLES = 1500;
const PER_BODY = 50;
let client: MongoClient;
const children: ChildProcess[] = [];

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function serve(configFile: string): ChildProcess {
  const child = spawn('node', [path.join(REPO, 'bin/metering.mjs'), '--config', configFile, 'serve'], {
    env: { ...process.env, MONGODB_URI: mongoUri(), KAFKA_BROKERS: kafkaBrokers().join(','), REDIS_URL: redisUrl() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.resume();
  children.push(child);
  return child;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await client.db(iso.dbName()).dropDatabase().catch(() => undefined);
  await client.close();
});

describe('kill -9 of the controller during ingestion', () => {
  it('after a restart every Kafka and HTTP sample is stored exactly once: 0 lost, 0 duplicated', async () => {
    const port = await freePort();
    const topic = iso.topic('crash');
    const dir = mkdtempSync(path.join(tmpdir(), 'metering-crash-'));
    const configFile = path.join(dir, 'metering.yaml');
    writeFileSync(
      configFile,
      [
        'controller:',
        `  port: ${port}`,
        `  auth: {tokens: [{name: ceilometer, token: ${TOKEN}, roles: [ingest]}]}`,
        'store:',
        `  database: ${iso.dbName()}`,
        `  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}`,
        'ingest: {batchMaxSamples: 100, shutdownGraceMs: 2000}',
        `kafka: {enabled: true, topics: [${topic}], groupId: ${iso.groupId('crash')}, ingestTopic: ${topic}.ingest, fetchMaxWaitMs: 200}`,
        `redis: {prefix: ${iso.queuePrefix()}}`,
        'mediation: {lateDataCheckSeconds: 0}',
        '',
      ].join('\n'),
    );
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
    await ensureTopics(kafka, [topic]);
    const producer = await connectProducer(kafka);
    // each stream's samples carry their own project: what of each was stored at the kill is countable
    const viaKafka = makeSamples(KAFKA_SAMPLES, { project_id: 'via-kafka' });
    const viaHttp = makeSamples(HTTP_SAMPLES, { project_id: 'via-http' });
    const meter = client.db(iso.dbName()).collection(COLLECTIONS.meter);

    let first = serve(configFile);
    const base = `http://127.0.0.1:${port}`;
    await until('the controller to answer', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true, 90_000);

    // the Kafka publisher: 50 samples every 150 ms (about 4.5 s for all), alongside the HTTP sender
    const publisher = (async () => {
      for (let i = 0; i < viaKafka.length; i += 50) {
        await publishSamples(producer, topic, viaKafka.slice(i, i + 50), 'counter', '');
        await new Promise((r) => setTimeout(r, 150));
      }
      await producer.disconnect();
    })();

    // the HTTP sender: resends each body until it is answered 200 (as Ceilometer's publisher retries)
    let resends = 0;
    const sender = (async () => {
      for (let i = 0; i < viaHttp.length; i += PER_BODY) {
        const body = JSON.stringify(viaHttp.slice(i, i + PER_BODY).map(asDict));
        for (;;) {
          const res = await fetch(`${base}/v1/samples`, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } }).catch(() => undefined);
          if (res?.status === 200) break;
          resends++;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();

    // kill -9 mid-way through both streams (watched closely: the kill must come while Kafka samples are
    // still being stored, or the restart has nothing of Kafka to recover)
    const stored = async (project: string) => meter.countDocuments({ project_id: project });
    const deadline = Date.now() + 90_000;
    while (!((await stored('via-kafka')) >= 200 && (await stored('via-http')) >= 100)) {
      if (Date.now() > deadline) throw new Error('timed out waiting for part of both streams stored');
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = await meter.countDocuments();
    const kafkaAtKill = await stored('via-kafka');
    const httpAtKill = await stored('via-http');
    first = serve(configFile);
    await sender;
    await publisher;
    await until('every sample stored', async () => (await meter.countDocuments()) >= KAFKA_SAMPLES + HTTP_SAMPLES, 120_000);
    await new Promise((r) => setTimeout(r, 1000)); // a duplicate would have landed by now

    const total = await meter.countDocuments();
    const distinct = (await meter.distinct('message_id')).length;
    const expected = new Set([...viaKafka, ...viaHttp].map((s) => s.message_id));
    console.log(`[crash] kill -9 at ${atKill} stored of ${expected.size} (Kafka ${kafkaAtKill} of ${KAFKA_SAMPLES}, HTTP ${httpAtKill} of ${HTTP_SAMPLES}); after restart ${total} documents, ${distinct} distinct ids; ${resends} HTTP resends`);
    // the kill really interrupted both streams: the restart had Kafka and HTTP samples to recover
    expect(kafkaAtKill).toBeGreaterThan(0);
    expect(kafkaAtKill).toBeLessThan(KAFKA_SAMPLES);
    expect(atKill).toBeLessThan(expected.size);
    expect(distinct).toBe(expected.size); // 0 lost
    expect(total).toBe(expected.size); // 0 duplicated
    for (const id of await meter.distinct('message_id')) expect(expected.has(id)).toBe(true);
    // a graceful stop completes within ingest.shutdownGraceMs (2 s here) + the 10 s bound of serve
    const t0 = Date.now();
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
    expect(Date.now() - t0).toBeLessThan(12_000);
  }, 300_000);
});
