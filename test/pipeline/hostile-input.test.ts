import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { testIngestConfig, testStoreConfig, makeSample, makeSamples } from './ingest/helpers';
import { isolation } from '../support/isolation';
import type { Sample } from '../../pipeline/sample';

/**
 * Hostile input on the HTTP route (issue 10): every sample the store cannot hold as sent, or that is
 * implausible, is refused by validation with a reason before any write, and everything after it keeps
 * flowing (the store never reads as down, /readyz stays ready).
 */

const iso = isolation(import.meta.url);
const INGEST = 'ingest-token-for-hostile-input';

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});

let app: Application;
const post = (body: string) =>
  app.app.inject({ method: 'POST', url: '/v1/samples', payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } });
const meter = () => app.services.db.collection('meter');
const stored = (ids: string[]) => meter().countDocuments({ message_id: { $in: ids } });

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ceilometer', token: INGEST, roles: ['ingest'] }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: { ...testIngestConfig(), maxItemsPerBody: 2000, maxRejectsListed: 10, maxDeadLettersPerSubmission: 20 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false });
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

/** Post [good, bad, good]: the bad one is refused with a reason matching `reason`, its neighbours are stored. */
async function refusedAmidNeighbours(bad: Record<string, unknown>, reason: RegExp) {
  const good = [makeSample({ project_id: 'p1' }), makeSample({ project_id: 'p1' })];
  const res = await post(JSON.stringify([asDict(good[0]!), bad, asDict(good[1]!)]));
  expect(res.statusCode).toBe(200);
  const out = res.json();
  expect(out).toMatchObject({ accepted: 2, stored: 2, rejected: 1 });
  expect(out.rejects).toHaveLength(1);
  expect(out.rejects[0].index).toBe(1);
  expect(out.rejects[0].reason).toMatch(reason);
  expect(await stored(good.map((s) => s.message_id))).toBe(2);
  expect(await meter().countDocuments({ message_id: bad.id as string })).toBe(0);
  const dead = await app.services.db.collection('dead_letter').findOne({ message_id: bad.id as string });
  expect(dead?.reason).toMatch(reason);
}

async function stillFlowing() {
  const later = makeSamples(100, { project_id: 'p1' });
  const res = await post(JSON.stringify(later.map(asDict)));
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ stored: 100 });
  const ready = await app.app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(200);
  expect(ready.json().checks.ingestion).toEqual({ ok: true });
}

describe('samples the store cannot hold as sent are refused before any write (finding 1)', () => {
  it('a metadata key with NUL: refused with a reason, neighbours and all later traffic stored, /readyz ready', async () => {
    const bad = { ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { 'k\u0000': 'v' } };
    await refusedAmidNeighbours(bad, /key "k\\u0000" contains a NUL character/);
    // alone, first and last in a body
    const alone = { ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { nested: { '\u0000': 1 } } };
    const res = await post(JSON.stringify([alone]));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 0, rejected: 1 });
    await stillFlowing();
  });

  it('metadata nested deeper than ingest.maxMetadataDepth (nested objects or dotted keys)', async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: deep }, /nests 33 levels deep.*limit is 32/);
    const dotted = { [Array.from({ length: 120 }, (_, i) => `k${i}`).join('.')]: 1 };
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: dotted }, /nests 120 levels deep/);
    let lists: unknown = 1;
    for (let i = 0; i < 200; i++) lists = [lists];
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { l: lists } }, /resource_metadata\.l(\[0\])+: nests 33 levels deep \(lists count one level\)/);
    await stillFlowing();
  });

  it('metadata keys that collide after escaping ("$x" and "%24x", "a.b" and {a: {b}}) (finding 7)', async () => {
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { $x: 1, '%24x': 2 } }, /keys "\$x" and "%24x" are both stored as "%24x"/);
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { 'a.b': 1, a: { b: 2 } } }, /both stored as "a\.b"/);
    await refusedAmidNeighbours({ ...asDict(makeSample({ project_id: 'p1' })), resource_metadata: { a: 1, 'a.b': 2 } }, /keys "a" and "a\.b" are both stored/);
    // merging without loss is fine: {a: {x}} and "a.b"
    const ok = makeSample({ project_id: 'p1', resource_metadata: { a: { x: 1 }, 'a.b': 2, $y: 3 } });
    const res = await post(JSON.stringify([asDict(ok)]));
    expect(res.json()).toMatchObject({ stored: 1 });
    const doc = await meter().findOne({ message_id: ok.message_id });
    expect(doc!.resource_metadata).toEqual({ a: { x: 1, b: 2 }, '%24y': 3 });
  });

  it('a lone UTF-16 surrogate in a value or key (finding 7)', async () => {
    // JSON text with \ud800 escapes: valid JSON, not representable as UTF-8
    const s = makeSample({ project_id: 'p1' });
    const text = JSON.stringify(asDict(s)).replace('"display_name":"web"', '"display_name":"w\\ud800b"');
    const good = makeSample({ project_id: 'p1' });
    const res = await post(`[${JSON.stringify(asDict(good))},${text}]`);
    expect(res.json()).toMatchObject({ stored: 1, rejected: 1 });
    expect(res.json().rejects[0].reason).toMatch(/resource_metadata\.display_name: a lone UTF-16 surrogate \(\\ud800 at character 1\)/);
    const key = JSON.stringify(asDict(makeSample({ project_id: 'p1' }))).replace('"display_name":"web"', '"\\udc00":"web"');
    const res2 = await post(`[${key}]`);
    expect(res2.json()).toMatchObject({ stored: 0, rejected: 1 });
    expect(res2.json().rejects[0].reason).toMatch(/lone UTF-16 surrogate/);
  });
});

describe('plausibility of volumes and timestamps (finding 7)', () => {
  it('refuses −1e30, 1e308, negative cumulative counters, and timestamps in year 0001 or 9999, each with the rule named', async () => {
    const at = (over: Partial<Sample>, extra: Record<string, unknown> = {}) => ({ ...asDict(makeSample({ project_id: 'p1', ...over })), ...extra });
    await refusedAmidNeighbours(at({ counter_volume: -1e30 }), /volume: -1e\+30 is beyond the plausible magnitude.*maxAbsVolume/);
    await refusedAmidNeighbours(at({ counter_volume: 1e308 }), /volume: 1e\+308 is beyond/);
    await refusedAmidNeighbours(at({ counter_type: 'cumulative', counter_volume: -5 }), /negative, but cpu_util is a cumulative counter/);
    await refusedAmidNeighbours(at({}, { timestamp: '0001-01-01T00:00:00' }), /timestamp: 0001-01-01T00:00:00.000Z is more than \d+ s before arrival/);
    await refusedAmidNeighbours(at({}, { timestamp: '9999-12-31T23:59:59' }), /timestamp: 9999-12-31T23:59:59.000Z is more than \d+ s after arrival/);
    // a negative gauge and a 2013 trace timestamp are plausible
    const fine = [makeSample({ project_id: 'p1', counter_volume: -3 }), makeSample({ project_id: 'p1', timestamp: new Date('2013-07-31T22:02:56Z') })];
    expect((await post(JSON.stringify(fine.map(asDict)))).json()).toMatchObject({ stored: 2, rejected: 0 });
  });
});

describe('bounded cost per request (finding 4)', () => {
  it('a body with more items than ingest.maxItemsPerBody gets 413 and nothing of it is taken', async () => {
    const res = await post(JSON.stringify(Array.from({ length: 2001 }, () => ({}))));
    expect(res.statusCode).toBe(413);
    expect(res.json().message).toMatch(/2001 sample items, over the limit of 2000 per request \(ingest.maxItemsPerBody\)/);
  });

  it('many rejects: the answer lists the first maxRejectsListed and counts the rest per reason; dead letters are capped with one summary document', async () => {
    const before = await app.services.db.collection('dead_letter').countDocuments();
    const good = makeSample({ project_id: 'p1' });
    const body = [asDict(good), ...Array.from({ length: 1500 }, () => ({}))];
    const res = await post(JSON.stringify(body));
    expect(res.statusCode).toBe(200);
    const out = res.json();
    expect(out).toMatchObject({ stored: 1, rejected: 1500, rejectsNotListed: 1490 });
    expect(out.rejects).toHaveLength(10);
    expect(out.rejectReasons.reduce((n: number, r: { count: number }) => n + r.count, 0)).toBe(1490);
    expect(res.body.length).toBeLessThan(20_000);
    const dead = app.services.db.collection('dead_letter');
    expect((await dead.countDocuments()) - before).toBe(21);
    const summary = await dead.findOne({ 'summary.count': 1480 });
    expect(summary).not.toBeNull();
    expect(summary!.summary.indexes).toHaveLength(1480);
    expect(JSON.parse(summary!.payload)).toHaveLength(1480);
    await stillFlowing();
  });
});
