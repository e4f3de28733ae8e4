import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../../controller/app';
import { meteringConfig } from '../../../app/config';
import { isolation } from '../../support/isolation';
import { mongoUri } from '../../support/services';
import { CuttableProxy, connect, makeSamples, testIngestConfig, testStoreConfig } from './helpers';
import type { Sample } from '../../../pipeline/sample';
import type { MongoClient } from 'mongodb';

/**
 * Issue 10, finding 7: a request in flight when the store goes down used to be held for the whole
 * outage. Now it gets 503 + Retry-After after ingest.requestTimeoutMs, /readyz turns not ready once the
 * store reads as down, and sending the same body again after the outage stores each sample once.
 */

const iso = isolation(import.meta.url);
const INGEST = 'ingest-token-for-request-deadline';
let app: Application;
let proxy: CuttableProxy;
let direct: MongoClient;

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});
const post = (body: string) =>
  app.app.inject({ method: 'POST', url: '/v1/samples', payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } });

beforeAll(async () => {
  proxy = CuttableProxy.forUri(mongoUri());
  await proxy.up();
  direct = await connect();
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }] } },
    store: testStoreConfig(iso.dbName(), { uri: proxy.uri(), serverSelectionTimeoutMs: 500 }),
    ingest: testIngestConfig({ requestTimeoutMs: 800, storeDownAfterFailures: 2, shutdownGraceMs: 2000 }),
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false });
});
afterAll(async () => {
  await proxy.up().catch(() => undefined);
  await app?.close();
  await direct.db(iso.dbName()).dropDatabase().catch(() => undefined);
  await direct.close();
  await proxy.down();
});

describe('a request in flight when the store goes down', () => {
  it('gets 503 + Retry-After after ingest.requestTimeoutMs; /readyz says not ready; the resend after the outage stores each sample once', async () => {
    const samples = makeSamples(20);
    const body = JSON.stringify(samples.map(asDict));
    await proxy.down();
    const t0 = Date.now();
    const res = await post(body);
    const ms = Date.now() - t0;
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('deadline');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(ms).toBeLessThan(5000);

    // the store reads as down: readiness says so, new work gets 503 store-down at once
    const until = Date.now() + 15_000;
    while (!app.ingestion.ingestor.refusing() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const ready = await app.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.ingestion.ok).toBe(false);
    const refused = await post(JSON.stringify(makeSamples(2).map(asDict)));
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error).toBe('store-down');

    await proxy.up();
    // the accepted samples reach the store once it is back; the sender's resend counts them as duplicates
    let again = await post(body);
    const until2 = Date.now() + 20_000;
    while (again.statusCode !== 200 && Date.now() < until2) {
      await new Promise((r) => setTimeout(r, 250));
      again = await post(body);
    }
    expect(again.statusCode).toBe(200);
    expect(again.json().stored + again.json().duplicates).toBe(20);
    const ids = samples.map((s) => s.message_id);
    expect(await direct.db(iso.dbName()).collection('meter').countDocuments({ message_id: { $in: ids } })).toBe(20);
    expect((await app.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
