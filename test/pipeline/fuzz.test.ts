import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import type { Kafka, Producer } from 'kafkajs';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { createKafka, ensureTopics } from '../../pipeline/kafka/client';
import { connectProducer, encodeSamples } from '../../pipeline/kafka/producer';
import { createIngestion, resolveIngestionConfig } from '../../pipeline/ingest/pipeline-factory';
import { COLLECTIONS } from '../../pipeline/store/layout';
import type { Sample } from '../../pipeline/sample';
import { connect, makeSample, testIngestConfig, testStoreConfig } from './ingest/helpers';
import { isolation } from '../support/isolation';
import { kafkaBrokers } from '../support/services';

/**
 * Property-based fuzzing of every ingest transport (issue 10): generated bodies mixing valid samples
 * with hostile ones (every class of docs/ingestion.md "Hostile input", plus arbitrary JSON) are thrown
 * at the HTTP route and the Kafka consumer. Properties: every valid neighbour is stored exactly once,
 * nothing hostile is stored, the answer is never a 5xx, and ingestion keeps flowing (the store never
 * reads as down, /readyz stays ready). Bounded: a fixed seed and a few dozen bodies, seconds per run.
 */

const iso = isolation(import.meta.url);
const INGEST = 'ingest-token-for-the-fuzz-suite';
const SEED = 20261202;

/** Valid samples: arbitrary (safe) volumes, metadata and ids, each its own resource of project fuzz. */
const validSample = fc
  .record({
    volume: fc.double({ min: -1e9, max: 1e12, noNaN: true, noDefaultInfinity: true }),
    type: fc.constantFrom('gauge' as const, 'delta' as const),
    meta: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 5 }),
    minutes: fc.integer({ min: 0, max: 60 * 24 * 365 }),
  })
  .map(({ volume, type, meta, minutes }) =>
    makeSample({
      project_id: 'fuzz',
      resource_id: `vm-fuzz-${randomUUID()}`,
      counter_type: type,
      counter_volume: Object.is(volume, -0) ? 0 : volume,
      resource_metadata: meta,
      timestamp: new Date(Date.UTC(2025, 0, 1) + minutes * 60_000),
      message_id: `good-${randomUUID()}`,
    }),
  );

/** One hostile mutation of a sample: each is a class the store cannot hold as sent, or an implausible value. */
const hostileSample: fc.Arbitrary<Sample> = fc
  .tuple(
    validSample,
    fc.constantFrom('nul-key', 'deep', 'dotted-deep', 'collide-dollar', 'collide-dot', 'surrogate-value', 'surrogate-key', 'huge-volume', 'negative-huge', 'negative-cumulative', 'year-0001', 'year-9999'),
  )
  .map(([s, kind]) => {
    const bad: Sample = { ...s, message_id: `bad-${randomUUID()}` };
    let deep: Record<string, unknown> = { x: 1 };
    switch (kind) {
      case 'nul-key': return { ...bad, resource_metadata: { ...s.resource_metadata, [`k\u0000${kind}`]: 'v' } };
      case 'deep': for (let i = 0; i < 40; i++) deep = { d: deep }; return { ...bad, resource_metadata: deep };
      case 'dotted-deep': return { ...bad, resource_metadata: { [Array.from({ length: 50 }, (_, i) => `p${i}`).join('.')]: 1 } };
      case 'collide-dollar': return { ...bad, resource_metadata: { $x: 1, '%24x': 2 } };
      case 'collide-dot': return { ...bad, resource_metadata: { 'a.b': 1, a: { b: 2 } } };
      case 'surrogate-value': return { ...bad, resource_metadata: { name: 'a\ud800b' } };
      case 'surrogate-key': return { ...bad, resource_metadata: { '\udfff': 1 } };
      case 'huge-volume': return { ...bad, counter_volume: 1e308 };
      case 'negative-huge': return { ...bad, counter_volume: -1e30 };
      case 'negative-cumulative': return { ...bad, counter_type: 'cumulative', counter_volume: -1 };
      case 'year-0001': return { ...bad, timestamp: new Date('0001-01-01T00:00:00Z') };
      default: return { ...bad, timestamp: new Date('9999-12-31T00:00:00Z') };
    }
  });

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});

type Item = { kind: 'good'; sample: Sample } | { kind: 'bad'; sample: Sample } | { kind: 'junk'; value: unknown };
const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 4, arbitrary: validSample.map((sample) => ({ kind: 'good' as const, sample })) },
  { weight: 3, arbitrary: hostileSample.map((sample) => ({ kind: 'bad' as const, sample })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'junk' as const, value })) },
);
/** A body: items, with some valid samples repeated (a redelivery inside one body). */
const body = fc.array(item, { minLength: 1, maxLength: 25 }).chain((items) => {
  const goods = items.filter((i) => i.kind === 'good');
  return fc.subarray(goods, { maxLength: Math.min(3, goods.length) }).map((again) => [...items, ...again]);
});

describe('fuzz: hostile bodies on the HTTP route', () => {
  let app: Application;
  beforeAll(async () => {
    const config = meteringConfig.parse({
      controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }] } },
      store: testStoreConfig(iso.dbName('http')),
      ingest: testIngestConfig(),
    });
    app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false });
  });
  afterAll(async () => {
    await app?.services.db.dropDatabase().catch(() => undefined);
    await app?.close();
  });

  it('valid neighbours stored exactly once, nothing hostile stored, never a 5xx, ingestion keeps flowing', async () => {
    const meter = app.services.db.collection(COLLECTIONS.meter);
    let bodies = 0;
    await fc.assert(
      fc.asyncProperty(body, async (items) => {
        bodies++;
        const res = await app.app.inject({
          method: 'POST', url: '/v1/samples',
          payload: JSON.stringify(items.map((i) => (i.kind === 'junk' ? i.value : asDict(i.sample)))),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` },
        });
        expect([200, 400]).toContain(res.statusCode);
        const good = [...new Set(items.flatMap((i) => (i.kind === 'good' ? [i.sample.message_id] : [])))];
        const bad = items.flatMap((i) => (i.kind === 'bad' ? [i.sample.message_id] : []));
        for (const id of good) expect(await meter.countDocuments({ message_id: id }), id).toBe(1);
        expect(await meter.countDocuments({ message_id: { $in: bad } })).toBe(0);
        expect(res.json().stored + res.json().duplicates).toBe(items.filter((i) => i.kind === 'good').length);
        expect(app.ingestion.ingestor.refusing()).toBeUndefined();
      }),
      { numRuns: 40, seed: SEED, endOnFailure: true },
    );
    expect(bodies).toBeGreaterThanOrEqual(40);
    // no sample of the fuzz is stored that was not a valid one
    expect(await meter.countDocuments({ message_id: { $not: /^good-/ } })).toBe(0);
    expect((await app.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('fuzz: hostile messages on the Kafka consumer', () => {
  let kafka: Kafka;
  let producer: Producer;
  beforeAll(async () => {
    kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
    producer = await connectProducer(kafka);
  });
  afterAll(async () => {
    await producer?.disconnect();
  });

  it('every valid sample stored exactly once, nothing hostile stored, no pause, the store never reads as down', async () => {
    const client = await connect();
    const db = client.db(iso.dbName('kafka'));
    const topic = iso.topic('fuzz');
    await ensureTopics(kafka, [topic]);
    const batches = fc.sample(body, { numRuns: 30, seed: SEED });
    const good = new Set<string>();
    const bad = new Set<string>();
    const values: string[] = [];
    for (const items of batches) {
      for (const i of items) {
        if (i.kind === 'junk') values.push(JSON.stringify(i.value) ?? 'null');
        else {
          (i.kind === 'good' ? good : bad).add(i.sample.message_id);
          values.push(...encodeSamples([i.sample], 'counter', ''));
        }
      }
      // one oslo envelope per body, hostile samples amid valid ones
      const samples = items.flatMap((i) => (i.kind === 'junk' ? [] : [i.sample]));
      if (samples.length) values.push(...encodeSamples(samples, 'oslo', '', 100));
      values.push('\u0000not json', '{"oslo.message": 42}');
    }
    for (let i = 0; i < values.length; i += 500) await producer.send({ topic, acks: -1, messages: values.slice(i, i + 500).map((value) => ({ value })) });

    const cfg = {
      store: testStoreConfig(db.databaseName),
      ingest: testIngestConfig({ batchMaxSamples: 50 }),
      kafka: resolveIngestionConfig({ kafka: { brokers: kafkaBrokers(), groupId: iso.groupId('fuzz'), topics: [topic], fromBeginning: true, fetchMaxWaitMs: 100 } }).kafka,
    };
    const ing = await createIngestion(cfg, { db, kafka });
    try {
      const meter = db.collection(COLLECTIONS.meter);
      const until = Date.now() + 30_000;
      while ((await meter.countDocuments()) < good.size && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      await new Promise((r) => setTimeout(r, 500)); // anything extra would have landed by now
      const ids = await meter.distinct('message_id');
      expect(ids.length).toBe(good.size);
      expect(await meter.countDocuments()).toBe(good.size); // exactly once each
      for (const id of ids) expect(good.has(id)).toBe(true);
      expect(ids.filter((id) => bad.has(id))).toEqual([]);
      expect(ing.ingestor.refusing()).toBeUndefined();
      expect(ing.consumer!.stats.pauses).toBe(0);
      expect(await db.collection(COLLECTIONS.deadLetter).countDocuments()).toBeGreaterThan(0);
    } finally {
      await ing.close();
      await db.dropDatabase().catch(() => undefined);
      await client.close();
    }
  });
});
