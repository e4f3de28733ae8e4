import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { testIngestConfig, testStoreConfig, makeSample } from './ingest/helpers';
import { isolation } from '../support/isolation';
import type { Sample } from '../../pipeline/sample';
import { signSample } from '../../pipeline/ceilometer/sign';

const iso = isolation(import.meta.url);
const INGEST = 'ingest-token-for-http-route';
const SCOPED = 'ingest-token-scoped-to-p2x';
const SECRET = 'telemetry-secret-of-this-test';

/** Ceilometer's http:// publisher body item: Sample.as_dict() (name/type/unit/volume/id keys, unsigned). */
const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, user_name: null, project_id: s.project_id, project_name: null, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id, monotonic_time: null,
});

let app: Application;
const post = (body: string, token = INGEST) =>
  app.app.inject({ method: 'POST', url: '/v1/samples', payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }, { name: 'tenant-p2', token: SCOPED, roles: ['ingest'], project: 'p2' }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: { ...testIngestConfig(), maxBodyBytes: 64 * 1024, telemetrySecret: SECRET, signaturePolicy: 'reject' },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false });
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('POST /v1/samples (Ceilometer http:// publisher)', () => {
  it('stores a batched body, answering only after the write, and never stores a redelivery twice', async () => {
    const samples = Array.from({ length: 20 }, () => makeSample({ project_id: 'p1' }));
    const body = JSON.stringify(samples.map(asDict));
    const first = await post(body);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ accepted: 20, stored: 20, duplicates: 0, rejected: 0 });
    // answered after the write: the documents are there now
    const ids = samples.map((s) => s.message_id);
    expect(await app.services.db.collection('meter').countDocuments({ message_id: { $in: ids } })).toBe(20);
    const again = await post(body);
    expect(again.json()).toMatchObject({ accepted: 20, stored: 0, duplicates: 20 });
    expect(await app.services.db.collection('meter').countDocuments({ message_id: { $in: ids } })).toBe(20);
  });

  it('accepts one object when the publisher runs with batch=False', async () => {
    const s = makeSample({ project_id: 'p1' });
    const res = await post(JSON.stringify(asDict(s)));
    expect(res.json()).toMatchObject({ stored: 1 });
    const doc = await app.services.db.collection('meter').findOne({ message_id: s.message_id });
    expect(doc).toMatchObject({ counter_name: s.counter_name, counter_volume: s.counter_volume, resource_id: s.resource_id, project_id: 'p1' });
    expect(doc!.timestamp).toEqual(s.timestamp);
  });

  it('stores the valid samples of a mixed batch and dead-letters the rest with their reason', async () => {
    const good = [makeSample({ project_id: 'p1' }), makeSample({ project_id: 'p1' })];
    const items: unknown[] = [asDict(good[0]!), { ...asDict(makeSample()), volume: 'lots' }, asDict(good[1]!), { ...asDict(makeSample()), type: 'sometimes' }];
    const res = await post(JSON.stringify(items));
    expect(res.statusCode).toBe(200);
    const out = res.json();
    expect(out).toMatchObject({ accepted: 2, stored: 2, rejected: 2 });
    expect(out.rejects.map((r: { index: number }) => r.index)).toEqual([1, 3]);
    expect(out.rejects[0].reason).toMatch(/volume/);
    expect(out.rejects[1].reason).toMatch(/type/);
    const dead = await app.services.db.collection('dead_letter').find({ index: { $in: [1, 3] } }).toArray();
    expect(dead.length).toBeGreaterThanOrEqual(2);
    expect(dead.some((d) => String(d.payload).includes('"lots"'))).toBe(true);
  });

  it('answers 400 for a body that is not JSON, and keeps it as a dead letter', async () => {
    const res = await post('[{"name": "cpu", ');
    expect(res.statusCode).toBe(400);
    expect(res.json().rejects[0]).toMatchObject({ index: -1 });
    expect(await app.services.db.collection('dead_letter').countDocuments({ payload: '[{"name": "cpu", ' })).toBe(1);
  });

  it('refuses bodies above ingest.maxBodyBytes with 413', async () => {
    const big = JSON.stringify(Array.from({ length: 200 }, () => asDict(makeSample({ resource_metadata: { pad: 'x'.repeat(500) } }))));
    expect(big.length).toBeGreaterThan(64 * 1024);
    expect((await post(big)).statusCode).toBe(413);
  });

  it("keeps a project-scoped token to its own project's samples", async () => {
    const mine = makeSample({ project_id: 'p2' });
    const theirs = makeSample({ project_id: 'p1' });
    const res = await post(JSON.stringify([{ broken: true }, asDict(mine), asDict(theirs)]), SCOPED);
    expect(res.json()).toMatchObject({ stored: 1, rejected: 2 });
    // reasons are listed at the samples' positions in the body
    expect(res.json().rejects.map((r: { index: number }) => r.index)).toEqual([0, 2]);
    expect(res.json().rejects[1].reason).toMatch(/outside this token's project scope/);
    expect(await app.services.db.collection('meter').countDocuments({ message_id: theirs.message_id })).toBe(0);
  });

  it('verifies signed counter_* messages: correctly signed ones are stored, forged ones dead-lettered', async () => {
    const good = makeSample({ project_id: 'p1' });
    const forged: Record<string, unknown> = { ...signSample(makeSample({ project_id: "p1" }), SECRET), counter_volume: 9999 }; // volume changed after signing
    const wrongKey = signSample(makeSample({ project_id: 'p1' }), 'another-secret');
    const res = await post(JSON.stringify([signSample(good, SECRET), forged, wrongKey]));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ stored: 1, rejected: 2 });
    expect(res.json().rejects.map((r: { index: number; reason: string }) => [r.index, /signature/.test(r.reason)])).toEqual([[1, true], [2, true]]);
    const doc = await app.services.db.collection('meter').findOne({ message_id: good.message_id });
    expect(doc?.message_signature).toMatch(/^[0-9a-f]{64}$/);
    expect(await app.services.db.collection('meter').countDocuments({ message_id: { $in: [forged.message_id, wrongKey.message_id] } })).toBe(0);
  });

  it('needs an ingest token', async () => {
    expect((await app.app.inject({ method: 'POST', url: '/v1/samples', payload: '[]', headers: { 'content-type': 'application/json' } })).statusCode).toBe(401);
  });
});
