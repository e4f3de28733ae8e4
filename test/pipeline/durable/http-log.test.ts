import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { MongoClient } from 'mongodb';
import { startApplication, type Application } from '../../../controller/app';
import { meteringConfig } from '../../../app/config';
import { connect, CuttableProxy, makeSample, testIngestConfig, testStoreConfig } from '../ingest/helpers';
import { isolation } from '../../support/isolation';
import { kafkaBrokers, mongoUri } from '../../support/services';
import type { Sample } from '../../../pipeline/sample';
import { createKafka } from '../../../pipeline/kafka/client';
import { DurableLog } from '../../../pipeline/durable/log';
import { appendHttpBody } from '../../../pipeline/durable/http';
import { parseHttpBody } from '../../../pipeline/ceilometer/normalize';
import { ingestRoutes } from '../../../pipeline/http-route';
import { buildController } from '../../../controller/server';
import { ProductMetrics } from '../../../controller/metrics';
import { ingestMetricHelp } from '../../../pipeline/ingest/metrics';

// acceptance `log`: POST /v1/samples answers 200 once the body is in the Kafka ingest log; the consumer
// stores it behind, exactly once, with the token's project scope; the store being down does not matter.

const iso = isolation(import.meta.url);
const INGEST = 'ingest-token-durable';
const SCOPED = 'ingest-token-durable-p2';

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata, source: s.source, id: s.message_id,
});

let app: Application;
let proxy: CuttableProxy;
let direct: MongoClient;
const post = (body: string, token = INGEST) =>
  app.app.inject({ method: 'POST', url: '/v1/samples', payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
const count = (ids: string[]) => direct.db(iso.dbName()).collection('meter').countDocuments({ message_id: { $in: ids } });

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  proxy = CuttableProxy.forUri(mongoUri());
  await proxy.up();
  direct = await connect();
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }, { name: 'tenant-p2', token: SCOPED, roles: ['ingest'], project: 'p2' }] } },
    store: testStoreConfig(iso.dbName(), { uri: proxy.uri(), serverSelectionTimeoutMs: 800 }),
    ingest: { ...testIngestConfig({ storeDownAfterFailures: 2 }), acceptance: 'auto' },
    kafka: { enabled: true, brokers: kafkaBrokers(), groupId: iso.groupId(), topics: [iso.topic('unused')], ingestTopic: iso.topic('ingest'), fetchMaxWaitMs: 100, clientId: iso.id },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false });
});
afterAll(async () => {
  await app?.close();
  await direct?.db(iso.dbName()).dropDatabase().catch(() => undefined);
  await direct?.close();
  await proxy?.down();
});

describe('acceptance log (default with kafka.enabled)', () => {
  it('is what auto means with Kafka enabled', () => {
    expect(app.ingestion.acceptance).toBe('log');
  });

  it('answers 200 while MongoDB is unreachable and stores everything exactly once when it is back', async () => {
    const samples = Array.from({ length: 30 }, () => makeSample({ project_id: 'p1' }));
    const ids = samples.map((s) => s.message_id);
    await waitFor('the consumer running', async () => (await post('[]')).statusCode === 200);
    await proxy.down();
    const body = JSON.stringify(samples.map(asDict));
    const first = await post(body);
    const resent = await post(body); // the same batch again (a sender's retry): nothing twice
    expect([first.statusCode, resent.statusCode]).toEqual([200, 200]);
    expect(first.json()).toMatchObject({ accepted: 30, rejected: 0, acceptance: 'log' });
    await new Promise((r) => setTimeout(r, 1500));
    await proxy.up();
    await waitFor('30 samples stored', async () => (await count(ids)) >= 30);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await count(ids)).toBe(30);
  }, 60_000);

  it("keeps a token's project scope: samples of another project are refused in the answer and never stored", async () => {
    const mine = Array.from({ length: 3 }, () => makeSample({ project_id: 'p2' }));
    const theirs = makeSample({ project_id: 'p1' });
    const res = await post(JSON.stringify([...mine, theirs].map(asDict)), SCOPED);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 3, rejected: 1, rejects: [{ index: 3, reason: expect.stringMatching(/^project_id: "p1" is outside this token's project scope/) }] });
    await waitFor('3 samples stored', async () => (await count(mine.map((s) => s.message_id))) === 3);
    await waitFor('the refused sample dead-lettered', async () => (await direct.db(iso.dbName()).collection('dead_letter').countDocuments({ message_id: theirs.message_id })) === 1);
    expect(await count([theirs.message_id])).toBe(0);
  });
});

describe('acceptance log: a resource takeover is refused as on the direct path', () => {
  it("a sample naming another project's resource, taken into the log, is refused at drain: dead-lettered with the reason, the resource stays its owner's, its neighbour is stored", async () => {
    const d = direct.db(iso.dbName());
    const vm = `vm-of-p1-${iso.id}`;
    const owner = makeSample({ project_id: 'p1', resource_id: vm, resource_metadata: { display_name: 'p1-web' } });
    expect((await post(JSON.stringify([asDict(owner)]))).statusCode).toBe(200);
    await waitFor("the owner's sample stored", async () => (await count([owner.message_id])) === 1);
    const refusedBefore = app.ingestion.ingestor.metrics.snapshot().metering_ingest_http_samples_refused_total!;

    const takeover = makeSample({ project_id: 'p2', resource_id: vm, resource_metadata: { display_name: 'mine-now' }, timestamp: new Date(owner.timestamp.getTime() + 60_000) });
    const neighbour = makeSample({ project_id: 'p2' });
    const res = await post(JSON.stringify([asDict(takeover), asDict(neighbour)]), SCOPED);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: 0, acceptance: 'log' }); // in the log: judged at drain

    await waitFor('the takeover dead-lettered', async () => (await d.collection('dead_letter').countDocuments({ message_id: takeover.message_id })) === 1);
    await waitFor('the neighbour stored', async () => (await count([neighbour.message_id])) === 1);
    const dead = await d.collection('dead_letter').findOne({ message_id: takeover.message_id });
    expect(dead?.reason).toMatch(/belongs to another project/);
    expect(dead?.reason).not.toMatch(/\bp1\b/); // the owner is not disclosed
    expect(await d.collection('resource').findOne({ _id: vm as never })).toMatchObject({ project_id: 'p1', metadata: { display_name: 'p1-web' } });
    expect(await d.collection('meter').countDocuments({ resource_id: vm })).toBe(1);
    expect(await count([takeover.message_id])).toBe(0);
    expect(app.ingestion.ingestor.metrics.snapshot().metering_ingest_http_samples_refused_total! - refusedBefore).toBe(1); // the store's refusal, against http
  }, 60_000);
});

describe('acceptance log: the counters say what they count', () => {
  it('a sample is counted as logged when the log takes it, and one the screen refuses at drain as refused against http, not as accepted', async () => {
    const m = () => app.ingestion.ingestor.metrics.snapshot();
    const before = m();
    const consumerRefused = app.ingestion.consumer!.stats.refused;
    const good = Array.from({ length: 2 }, () => makeSample({ project_id: 'p1', resource_id: 'counters-vm' }));
    const huge = makeSample({ project_id: 'p1', resource_id: 'counters-vm', counter_volume: 1e300 }); // implausible: beyond maxAbsVolume
    const res = await post(JSON.stringify([...good, huge].map(asDict)));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 3, stored: 0, acceptance: 'log' }); // taken into the log: not yet screened
    expect(m().metering_ingest_http_samples_logged_total! - before.metering_ingest_http_samples_logged_total!).toBe(3);
    await waitFor('the good samples stored', async () => (await count(good.map((s) => s.message_id))) === 2);
    await waitFor('the implausible one dead-lettered', async () => (await direct.db(iso.dbName()).collection('dead_letter').countDocuments({ message_id: huge.message_id })) === 1);
    const after = m();
    const delta = (k: string) => after[k]! - before[k]!;
    expect(delta('metering_ingest_http_samples_refused_total')).toBe(1);
    expect(delta('metering_ingest_kafka_samples_refused_total')).toBe(0); // counted against the transport it arrived by
    expect(delta('metering_ingest_samples_refused_total')).toBe(1);
    expect(delta('metering_ingest_samples_accepted_total')).toBe(2);
    // the Kafka consumer's own stats (counted once the batch is committed): refused, not samples
    await waitFor("the consumer's stats", async () => app.ingestion.consumer!.stats.refused - consumerRefused === 1);
    expect(ingestMetricHelp('metering_ingest_http_samples_logged_total')).toMatch(/^Valid http samples appended to the durable ingest log .*not yet screened/);
    const exposed = await app.services.metrics.render();
    expect(exposed).toMatch(/^# HELP metering_ingest_http_samples_refused_total Parsed http samples refused by the ingestor's screen/m);
  }, 60_000);
});

describe('acceptance log: a sample on time when accepted stays on time through an outage', () => {
  it('the timestamp rules count from when the log took the sample, not from when it could be drained', async () => {
    const db = iso.dbName('late');
    const topic = iso.topic('ingest-late');
    // the route's own append (what a controller does before answering 200), while no consumer drains the log
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: `${iso.id}-late` });
    const producer = kafka.producer();
    await producer.connect();
    const onTime = makeSample({ project_id: 'p1', timestamp: new Date(Date.now() - 2000) }); // 2 s old when accepted
    const stale = makeSample({ project_id: 'p1', timestamp: new Date(Date.now() - 60_000) }); // already too old then
    const body = Buffer.from(JSON.stringify([asDict(onTime), asDict(stale)]));
    await appendHttpBody(new DurableLog(producer, topic), body, parseHttpBody(body), undefined);
    await producer.disconnect();
    await new Promise((r) => setTimeout(r, 5000)); // the drain comes late: by its clock the sample is now 7 s old
    const config = meteringConfig.parse({
      controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }] } },
      store: testStoreConfig(db),
      // a sample may be at most 5 s old when it arrives
      ingest: { ...testIngestConfig(), acceptance: 'log', plausibility: { maxPastSeconds: 5 } },
      kafka: { enabled: true, brokers: kafkaBrokers(), groupId: iso.groupId('late'), topics: [iso.topic('unused-late')], ingestTopic: topic, fetchMaxWaitMs: 100, clientId: `${iso.id}-late` },
    });
    const late = await startApplication({ config, log: pino({ level: 'silent' }), listen: false });
    try {
      const d = direct.db(db);
      await waitFor('the stale sample dead-lettered', async () => (await d.collection('dead_letter').countDocuments({ message_id: stale.message_id })) === 1);
      await waitFor('the on-time sample stored', async () => (await d.collection('meter').countDocuments({ message_id: onTime.message_id })) === 1);
      expect(await d.collection('dead_letter').countDocuments({ message_id: onTime.message_id })).toBe(0);
    } finally {
      await late.close();
      await direct.db(db).dropDatabase().catch(() => undefined);
    }
  }, 90_000);
});

describe('acceptance log when the log cannot take the body', () => {
  it('answers 503 with Retry-After (and nothing was acknowledged)', async () => {
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: `${iso.id}-closed` });
    const producer = kafka.producer();
    await producer.connect();
    await producer.disconnect(); // a producer that can no longer reach the log
    const controller = await buildController({
      config: app.services.config,
      log: pino({ level: 'silent' }),
      metrics: new ProductMetrics(false),
      readiness: {},
      routes: [ingestRoutes(app.ingestion.ingestor, app.services.config.ingest, new DurableLog(producer, iso.topic('ingest')))],
    });
    const res = await controller.inject({ method: 'POST', url: '/v1/samples', payload: JSON.stringify([asDict(makeSample())]), headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json().message).toMatch(/^the ingest log \(Kafka topic .*\) did not take the samples/);
    await controller.close();
  });
});
