import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../../controller/app';
import { meteringConfig } from '../../../app/config';
import { createKafka } from '../../../pipeline/kafka/client';
import { ConsumerLagReader } from '../../../pipeline/monitor/lag';
import { applyLedgerFlush, ensureLedgerIndexes, LEDGER_COLLECTION } from '../../../pipeline/monitor/ledger';
import { monitorModule } from '../../../pipeline/monitor/module';
import { CEILOMETER_DEFAULT_SECRET, asDict, kafkaValues } from '../../../pipeline/replay/encode';
import { makeSample, testIngestConfig, testStoreConfig } from '../ingest/helpers';
import { isolation } from '../../support/isolation';
import { REPO } from '../../support/paths';
import { kafkaBrokers, mongoTier, mongoUri } from '../../support/services';

// The pipeline watching itself inside the running product, on real Kafka and MongoDB: per-transport
// counts, histograms, dead letters by reason, consumer lag, and the reconciliation of the ledger
// against the store (with samples lost and samples written around the pipeline).
const iso = isolation(import.meta.url);
const topic = iso.topic('ceilometer');
const ADMIN = 'monitor-admin-token';
const P2 = 'monitor-p2-token';
const HOUR = '2026-03-01T10:';
let app: Application;
const call = (url: string, token = ADMIN, method: 'GET' | 'POST' = 'GET', payload?: string) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) }, ...(payload ? { payload } : {}) });

const at = (min: number) => new Date(`${HOUR}${String(min).padStart(2, '0')}:00Z`);
const httpSamples = Array.from({ length: 20 }, (_, i) => makeSample({ resource_id: i < 10 ? 'vm-a' : 'vm-b', project_id: i < 10 ? 'p1' : 'p2', timestamp: at(i) }));
const kafkaSamples = Array.from({ length: 10 }, (_, i) => makeSample({ resource_id: 'vm-k', project_id: 'p1', timestamp: at(30 + i) }));

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }, { name: 'tenant-p2', token: P2, roles: ['read'], project: 'p2' }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: { ...testIngestConfig(), telemetrySecret: CEILOMETER_DEFAULT_SECRET, signaturePolicy: 'off', acceptance: 'store' },
    kafka: { brokers: kafkaBrokers(), groupId: iso.groupId(), topics: [topic], ingestTopic: `${topic}.ingest`, fromBeginning: true, fetchMaxWaitMs: 100, clientId: iso.id },
    monitor: { ledgerFlushMs: 200, lagCacheSeconds: 0.2 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: true, modules: [monitorModule] });
  const body = JSON.stringify([...httpSamples.map(asDict), { ...asDict(makeSample()), timestamp: 'yesterday' }, { ...asDict(makeSample()), timestamp: 12 }]);
  const res = await call('/v1/samples', ADMIN, 'POST', body);
  expect(res.statusCode, res.body).toBe(200);
  const producer = createKafka({ brokers: kafkaBrokers(), clientId: iso.id }).producer();
  await producer.connect();
  await producer.send({ topic, messages: kafkaValues(kafkaSamples, 'counter', CEILOMETER_DEFAULT_SECRET, 1).map((value) => ({ value })) });
  await producer.disconnect();
  await until('the Kafka samples stored', async () => ((await app.services.db.collection('meter').countDocuments({ resource_id: 'vm-k' })) === 10 ? true : undefined));
}, 60_000);

afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('pipeline metrics (GET /metrics)', () => {
  it('count samples per transport, batch write latency, freshness, dead letters by reason and consumer lag', async () => {
    const text = await until('consumer lag 0 in /metrics', async () => {
      const t = (await call('/metrics')).body;
      return new RegExp(`metering_kafka_consumer_lag\\{topic="${topic}",partition="0"\\} 0`).test(t) ? t : undefined;
    });
    expect(text).toMatch(/metering_ingest_transport_samples_total\{transport="http"\} 20\b/);
    expect(text).toMatch(/metering_ingest_transport_samples_total\{transport="kafka"\} 10\b/);
    expect(text).toMatch(/metering_ingest_transport_rejects_total\{transport="http"\} 2\b/);
    expect(text).toMatch(/metering_ingest_dead_letters_total\{reason="timestamp"\} 2\b/);
    expect(text).toMatch(/metering_pipeline_freshness_seconds_count 30\b/);
    expect(text).toMatch(/metering_ingest_batch_write_seconds_bucket\{le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/# TYPE metering_ingest_batch_write_seconds histogram/);
    expect(text).toMatch(/metering_pipeline_newest_sample_age_seconds \d/);
  });
});

describe('the Grafana dashboard (docs/grafana/metering-pipeline.json)', () => {
  it('asks only for metrics the controller exposes', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(REPO, 'docs/grafana/metering-pipeline.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map((t) => t.expr));
    const wanted = new Set(exprs.flatMap((e) => e.match(/metering_[a-z0-9_]+/g) ?? []).map((m) => m.replace(/_bucket$/, '')));
    expect(wanted.size).toBeGreaterThan(10);
    const exposed = (await call('/metrics')).body;
    const missing = [...wanted].filter((m) => !new RegExp(`^# TYPE ${m} `, 'm').test(exposed));
    expect(missing).toEqual([]);
  });
});

describe('GET /v1/pipeline/status and /v1/pipeline/dead-letters', () => {
  it('shows rates per transport, lag per partition, latency and freshness quantiles, dead letters by reason', async () => {
    const res = await call('/v1/pipeline/status');
    expect(res.statusCode).toBe(200);
    const s = res.json();
    expect(s.transports.map((t: { transport: string }) => t.transport).sort()).toEqual(['http', 'kafka']);
    expect(s.transports.every((t: { rate_per_s: number }) => t.rate_per_s > 0)).toBe(true);
    expect(s.totals.stored).toBe(30);
    expect(s.dead_letters_by_reason).toEqual({ timestamp: 2 });
    expect(s.batch_latency_s.count).toBeGreaterThan(0);
    expect(s.freshness_s.count).toBe(30);
    expect(s.freshness_s.newest_sample).toBe(at(39).toISOString());
    expect(s.consumer_lag.partitions).toEqual([expect.objectContaining({ topic, partition: 0, lag: 0, end: '10' })]);
    expect(s.backpressure.state).toBe('ok');
  });

  it('lists the dead letters of one reason class with their payload', async () => {
    const res = await call('/v1/pipeline/dead-letters?reason=timestamp');
    expect(res.statusCode).toBe(200);
    const letters = res.json().letters;
    expect(letters).toHaveLength(2);
    expect(letters.every((l: { reason_class: string; source: string; payload: string }) => l.reason_class === 'timestamp' && l.source === 'http' && l.payload.includes('timestamp'))).toBe(true);
    expect((await call('/v1/pipeline/dead-letters?reason=message_signature')).json().letters).toHaveLength(0);
    const bad = await call('/v1/pipeline/dead-letters?reason=%24where');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/query.reason/);
  });

  it('refuses a project-scoped token: the pipeline carries every project', async () => {
    for (const url of ['/v1/pipeline/status', '/v1/pipeline/dead-letters']) expect((await call(url, P2)).statusCode).toBe(403);
  });
});

describe('reconciliation', () => {
  const window = `from=${HOUR}00:00Z&to=${HOUR}59:00Z`;

  it('matches when everything accepted is stored', async () => {
    const r = (await call(`/v1/pipeline/reconciliation?${window}`)).json();
    expect(r).toMatchObject({ ok: true, accepted_total: 30, stored_total: 30, pairs: 3, resources: 3, differing: 0 });
  });

  it('reports samples lost from the store as missing and samples written around the pipeline as unaccounted', async () => {
    const meter = app.services.db.collection('meter');
    const lost = await meter.find({ resource_id: 'vm-a' }).limit(3).toArray();
    await meter.deleteMany({ _id: { $in: lost.map((d) => d._id) } });
    await meter.insertOne({ ...makeSample({ resource_id: 'vm-b', project_id: 'p2', timestamp: at(50) }) });
    const r = (await call(`/v1/pipeline/reconciliation?${window}`)).json();
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ accepted_total: 30, stored_total: 28, missing_samples: 3, unaccounted_samples: 1, differing: 2 });
    expect(r.differences).toEqual([
      expect.objectContaining({ resource_id: 'vm-a', hour: '2026-03-01T10:00:00Z', accepted: 10, stored: 7, difference: -3, kind: 'missing' }),
      expect.objectContaining({ resource_id: 'vm-b', accepted: 10, stored: 11, difference: 1, kind: 'unaccounted' }),
    ]);
    // the last unscoped run is a metric too
    expect((await call('/metrics')).body).toMatch(/metering_reconciliation_missing_samples 3\b/);
  });

  it("shows a project-scoped token only its project's resources", async () => {
    const r = (await call(`/v1/pipeline/reconciliation?${window}`, P2)).json();
    expect(r.project).toBe('p2');
    expect(r.differences.map((d: { resource_id: string }) => d.resource_id)).toEqual(['vm-b']);
    expect((await call(`/v1/pipeline/reconciliation?${window}&project_id=p1`, P2)).statusCode).toBe(403);
  });

  it('refuses a bad window with a clear message', async () => {
    const r = await call(`/v1/pipeline/reconciliation?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z`);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/must be before/);
    expect((await call('/v1/pipeline/reconciliation?from=yesterday')).json().message).toMatch(/querystring\/from/);
  });

  it('metering pipeline reconcile prints the differences and exits 1', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reconcile-cli-'));
    const file = path.join(dir, 'metering.yaml');
    writeFileSync(file, `store:\n  uri: "${mongoUri()}"\n  database: ${app.services.config.store.database}\n  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}\n`);
    const r = spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), '-c', file, 'pipeline', 'reconcile', '--from', `${HOUR}00:00Z`, '--to', `${HOUR}59:00Z`, '--no-progress'], { encoding: 'utf8', env: { ...process.env, MONGODB_URI: '' }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/ledger \(stored by ingestion\) 30 samples, store holds 28/);
    expect(r.stdout).toMatch(/3 samples missing from the store, 1 unaccounted/);
    expect(r.stdout).toMatch(/vm-a\s+10\s+7\s+-3\s+missing/);
  });
});

describe('consumer lag when the broker does not answer', () => {
  it('is reported as unknown with the reason, in bounded time, instead of holding up /metrics', async () => {
    const kafka = createKafka({ brokers: ['127.0.0.1:1'], clientId: iso.id });
    const reader = new ConsumerLagReader(kafka, 'g', ['t'], 5);
    const t0 = Date.now();
    const r = await reader.read();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.total).toBeNull();
    expect(r.error).toBeTruthy();
    await reader.close();
  }, 15_000);
});

describe('the ledger', () => {
  it('expires by a TTL index on updated_at, recreated when the retention changes', async () => {
    const ttl = async () => (await app.services.db.collection(LEDGER_COLLECTION).indexes()).find((i) => i.name === 'ledger_ttl');
    expect(await ttl()).toMatchObject({ key: { updated_at: 1 }, expireAfterSeconds: 93 * 86_400 });
    await ensureLedgerIndexes(app.services.db, 10);
    expect(await ttl()).toMatchObject({ key: { updated_at: 1 }, expireAfterSeconds: 10 * 86_400 });
  });

  it('counts a flush once even when it is written again (its answer was lost)', async () => {
    const db = app.services.db;
    const entry = { resource_id: 'vm-ledger', project_id: 'p9', hour: new Date('2026-03-02T00:00:00Z'), n: 4 };
    await applyLedgerFlush(db, 'flush-1', [entry]);
    await applyLedgerFlush(db, 'flush-1', [entry]); // the retry of the same flush
    await applyLedgerFlush(db, 'flush-2', [{ ...entry, n: 1 }]);
    const doc = await db.collection(LEDGER_COLLECTION).findOne({ resource_id: 'vm-ledger' });
    expect(doc?.accepted).toBe(5);
  });
});
