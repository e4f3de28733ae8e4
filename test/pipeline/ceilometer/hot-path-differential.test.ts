import { beforeAll, describe, expect, it } from 'vitest';
import { BSON } from 'mongodb';
import fc from 'fast-check';
import { parseHttpBody, parseKafkaValue, type NormalizeOptions, type NormalizeResult } from '../../../pipeline/ceilometer/normalize';
import { clearInterned, internedFacts, internedStats, MAX_INTERNED_CHARS } from '../../../pipeline/ceilometer/interned';
import { storableProblems, storableProblemsByWalk } from '../../../pipeline/ceilometer/storable';
import { signSample } from '../../../pipeline/ceilometer/sign';
import { screenSamples } from '../../../pipeline/ingest/screen';
import { ingestConfig } from '../../../pipeline/config';
import { prepareSample } from '../../../pipeline/store/layout';
import { httpBody, kafkaValues, CEILOMETER_DEFAULT_SECRET } from '../../../pipeline/replay/encode';
import { benchSamples } from '../../../bench/ingest';
import type { Sample } from '../../../pipeline/sample';
import { sharedPath } from '../../support/paths';
import { forms, signatures } from './fixtures';

/**
 * The hot path's shortcuts (engine parse behind a scan, interned metadata that is not parsed again, facts
 * kept with an interned object: signature text, typed-number check, storability, BSON size) must give
 * exactly what the reference path gives: the character-by-character reader with none of them
 * (`referenceReader: true`). Compared on real trace samples in every wire form and on hostile variants:
 * the same samples, the same rejects with the same reasons, the same screen verdicts and the same stored
 * `meter` documents to the byte — on a cold cache and again on a warm one.
 */

const SECRET = CEILOMETER_DEFAULT_SECRET;
const SCREEN = ingestConfig.parse({});
const NOW = new Date('2026-12-03T00:00:00Z');

type Parse = (input: Buffer, opts: NormalizeOptions) => NormalizeResult;
const http: Parse = (b, o) => parseHttpBody(b, o);
const kafka: Parse = (b, o) => parseKafkaValue(b, o);

/** Everything a parse gives that the store and the dead letters see, in comparable form. */
function outcome(r: NormalizeResult): unknown {
  const screened = screenSamples(r.samples, SCREEN, NOW);
  return {
    samples: r.samples.map((s) => ({ ...s })),
    rejects: r.rejects.map((x) => ({ ...x, payload: Buffer.isBuffer(x.payload) ? x.payload.toString('latin1') : x.payload })),
    refused: screened.refused.map((x) => [x.index, x.reason]),
    // the stored document to the byte (its _id aside), and the size the writer measured for it
    documents: screened.kept.map(({ sample }) => {
      const p = prepareSample(sample, NOW);
      const { _id, ...doc } = p.doc;
      return { bson: Buffer.from(BSON.serialize(doc)).toString('base64'), size: p.bsonSize, exact: p.bsonSize === BSON.calculateObjectSize(p.doc) };
    }),
  };
}

/** Fast path on a cold cache, the same again on the warm cache, and the reference path: all equal. */
function same(parse: Parse, input: Buffer | string, opts: NormalizeOptions = { secret: SECRET }): NormalizeResult {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  clearInterned();
  const reference = outcome(parse(buf, { ...opts, referenceReader: true }));
  const cold = parse(buf, opts);
  expect(outcome(cold)).toEqual(reference);
  const warm = parse(buf, opts);
  expect(outcome(warm)).toEqual(reference);
  return warm;
}

let trace: Sample[] = [];
beforeAll(async () => {
  trace = await benchSamples(sharedPath('data', 'traces', 'bitbrains-rnd'), 1500);
});

describe('hot path against the reference path: real trace samples', () => {
  it('http bodies of signed counter_* items and of as_dict items', () => {
    for (let i = 0; i < trace.length; i += 500) {
      const signed = same(http, httpBody(trace.slice(i, i + 500), 'counter', SECRET));
      expect(signed.samples.length).toBe(500);
      expect(signed.rejects).toEqual([]);
      expect(same(http, httpBody(trace.slice(i, i + 500), 'as_dict', '')).samples.length).toBe(500);
    }
  });

  it('Kafka messages and oslo envelopes, signatures checked, every metadata shared after the first read', () => {
    const values = kafkaValues(trace.slice(0, 300), 'counter', SECRET);
    clearInterned();
    for (const v of values) expect(outcome(parseKafkaValue(Buffer.from(v), { secret: SECRET }))).toEqual(outcome(parseKafkaValue(Buffer.from(v), { secret: SECRET, referenceReader: true })));
    const parsed = values.map((v) => parseKafkaValue(Buffer.from(v), { secret: SECRET }).samples[0]!);
    expect(parsed.every((s) => internedFacts(s.resource_metadata) !== undefined)).toBe(true);
    // samples of one resource share one frozen object
    const byResource = new Map<string, Set<object>>();
    for (const s of parsed) byResource.set(s.resource_id, (byResource.get(s.resource_id) ?? new Set()).add(s.resource_metadata));
    for (const objects of byResource.values()) expect(objects.size).toBe(1);
    for (const v of kafkaValues(trace.slice(300, 600), 'notifier', SECRET, 50)) expect(same(kafka, v).samples.length).toBe(50);
  });

  it('every Ceilometer fixture: signature vectors, the http body, Kafka values and notifications', () => {
    for (const v of signatures().vectors) same(kafka, v.message_json, { secret: v.secret });
    const f = forms();
    same(http, f.http_body, { secret: f.secret });
    for (const v of [...f.kafka_values, ...f.legacy_kafka_values, f.oslo_envelope, f.polling_notification]) {
      const r = same(kafka, v, { secret: f.secret });
      expect(r.rejects).toEqual([]);
    }
  });

  it('every signature vector still verifies through the hot path, cold and warm', () => {
    clearInterned();
    for (const round of [1, 2]) {
      for (const v of signatures().vectors.filter((x) => x.message_json.includes('counter_name'))) {
        const r = parseKafkaValue(Buffer.from(v.message_json), { secret: v.secret });
        // (a vector may be refused for what it holds, e.g. an int beyond int64: never for its signature)
        const signatureRejects = r.rejects.filter((x) => x.reason.startsWith('message_signature'));
        expect({ round, name: v.name, signatureRejects }).toEqual({ round, name: v.name, signatureRejects: [] });
        expect(r.samples.length + r.rejects.length).toBe(1);
      }
    }
  });
});

/** A real signed item as a JSON object we can edit, and its metadata text. */
function realItem(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(signSample(trace[0]!, SECRET))) as Record<string, unknown>;
}
const replaceMeta = (itemJson: string, metaJson: string): string => itemJson.replace(/"resource_metadata":\{.*?\}\}/, `"resource_metadata":${metaJson}`);

describe('hot path against the reference path: hostile input', () => {
  it('truncated bodies: the same whole-body reject at every cut, also after the metadata was interned', () => {
    const body = httpBody(trace.slice(0, 3), 'counter', SECRET);
    const cuts = [1, 2, 50, body.indexOf('"resource_metadata"') + 25, Math.floor(body.length / 2), body.length - 2, body.length - 1];
    same(http, body); // the metadata is now known
    for (const cut of cuts) {
      const r = same(http, body.slice(0, cut));
      expect(r.samples).toEqual([]);
      expect(r.rejects[0]!.reason).toMatch(/^body: (invalid JSON|empty)/);
    }
    // a body that ends right after a known metadata text is refused, not completed from the cache
    const m = body.indexOf('"resource_metadata":') + '"resource_metadata":'.length;
    const metaEnd = body.indexOf(',"message_id"', m);
    expect(same(http, body.slice(0, metaEnd)).rejects[0]!.reason).toMatch(/invalid JSON/);
  });

  it('deep nesting: beyond the reader\'s 512 levels refused whole, beyond the store\'s depth refused per sample', () => {
    let deep = '1';
    for (let i = 0; i < 600; i++) deep = `{"d":${deep}}`;
    const item = JSON.stringify(realItem());
    expect(same(http, `[${replaceMeta(item, deep)}]`).rejects[0]!.reason).toMatch(/nesting deeper than 512/);
    let fortyDeep = '1';
    for (let i = 0; i < 40; i++) fortyDeep = `{"d":${fortyDeep}}`;
    const meta40 = `{"pad":"${'p'.repeat(60)}","n":${fortyDeep}}`;
    const r = same(http, `[${replaceMeta(item, meta40)}]`, { secret: '' });
    expect(outcome(r)).toMatchObject({ refused: [[0, expect.stringMatching(/nests \d+ levels deep/)]] });
    // a metadata text known from a shallow message, met again deep inside a polling notification: still 512 in all
    let m500 = '{"pad":"' + 'q'.repeat(60) + '","x":1}';
    for (let i = 0; i < 508; i++) m500 = `{"d":${m500}}`;
    const shallow = replaceMeta(item, m500);
    same(kafka, shallow, { secret: '' });
    const note = JSON.stringify({ event_type: 'telemetry.polling', payload: { samples: [JSON.parse(shallow)] } });
    const again = parseKafkaValue(Buffer.from(note), { secret: '' });
    expect(again.rejects[0]!.reason).toMatch(/nesting deeper than 512/);
    clearInterned();
    expect(parseKafkaValue(Buffer.from(note), { secret: '' }).rejects[0]!.reason).toMatch(/nesting deeper than 512/);
  });

  it('numbers: big integers, integral floats, NaN/Infinity and int64 overflow in interned metadata keep their stored types', () => {
    const item = JSON.stringify(realItem());
    const metas = [
      `{"pad":"${'a'.repeat(60)}","big":12345678901234567890,"f":1.0,"e":1e16,"neg":-0.0,"frac":2.5}`,
      `{"pad":"${'b'.repeat(60)}","n":NaN,"i":Infinity,"m":-Infinity}`,
      `{"pad":"${'c'.repeat(60)}","huge":123456789012345678901234567890}`,
      `{"pad":"${'d'.repeat(60)}","int64":9223372036854775807,"int32":2147483648,"small":-2147483648}`,
    ];
    for (const meta of metas) {
      const body = `[${replaceMeta(item, meta)},${replaceMeta(item, meta)}]`;
      same(http, body, { secret: '' });
      // the same text twice in one body, then again in the next body
      const r = parseHttpBody(Buffer.from(body), { secret: '' });
      expect(r.samples.length + r.rejects.length).toBe(2);
    }
  });

  it('unicode escapes, lone surrogates, escaped keys, NUL and the path separator in keys', () => {
    const item = JSON.stringify(realItem());
    const metas = [
      `{"pad":"${'e'.repeat(60)}","\\u00e9t\\u00e9":"caf\\u00e9 \\ud83d\\ude00","raw":"é😀"}`,
      `{"pad":"${'f'.repeat(60)}","lone":"\\ud800x"}`,
      `{"pad":"${'g'.repeat(60)}","k\\u0000":1}`,
      `{"pad":"${'h'.repeat(60)}","a\\u0001b":{"c":[1]},"$set":1,"x.y":2}`,
    ];
    for (const meta of metas) same(http, `[${replaceMeta(item, meta)}]`, { secret: '' });
    // the member name itself written with escapes, and a key holding the scan's path separator
    same(http, `[${item.replace('"resource_metadata"', '"resource\\u005fmetadata"')}]`);
    same(http, `[${item.replace('"source"', '"sou\\u0001rce"')}]`);
    // a bad escape in a key is a clear reject, never a thrown error (it used to escape the reader)
    for (const body of ['[{"a\\x": 1}]', '{"resource_metadata": {"k\\q": 1}}']) {
      expect(same(http, body).rejects[0]!.reason).toMatch(/^body: invalid JSON .*bad escape/);
    }
    expect(parseKafkaValue(Buffer.from('{"counter_name\\x": 1}'), {}).rejects[0]!.reason).toMatch(/^value: invalid JSON .*bad escape/);
  });

  it('duplicate keys: the last one wins, for resource_metadata itself and inside it', () => {
    const item = realItem();
    const itemJson = JSON.stringify(item);
    const meta = JSON.stringify(item.resource_metadata);
    const withTail = (tail: string) => `[${itemJson.slice(0, -1)},${tail}}]`;
    for (const tail of [`"resource_metadata":null`, `"resource_metadata":{"other":"${'o'.repeat(60)}"}`, `"resource_metadata":[1,2]`, `"resource_metadata":${meta}`]) {
      same(http, withTail(tail), { secret: '' });
    }
    // null first, then the known metadata
    same(http, `[${itemJson.replace('"resource_metadata":', '"resource_metadata":null,"resource_metadata":')}]`, { secret: '' });
    same(http, `[${replaceMeta(itemJson, `{"k":"${'z'.repeat(60)}","k":"last","__proto__":{"polluted":true}}`)}]`, { secret: '' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a signature stays bound to its message: tampering next to a known metadata text is rejected', () => {
    const item = realItem();
    const good = JSON.stringify(item);
    expect(parseHttpBody(Buffer.from(`[${good}]`), { secret: SECRET }).rejects).toEqual([]);
    const tampered = [
      { ...item, counter_volume: 999 },
      { ...item, message_id: 'another' },
      { ...item, resource_metadata: { ...(item.resource_metadata as object), status: 'stolen' } },
    ];
    for (const t of tampered) {
      const r = same(http, `[${good},${JSON.stringify(t)}]`);
      expect(r.samples.length).toBe(1);
      expect(r.rejects.map((x) => x.index)).toEqual([1]);
      expect(r.rejects[0]!.reason).toMatch(/^message_signature: does not match/);
    }
    expect(parseHttpBody(Buffer.from(`[${good}]`), { secret: 'another secret' }).rejects[0]!.reason).toMatch(/does not match/);
  });

  it('arbitrary edits of a real body give the reference path\'s answer (property, bounded)', () => {
    const body = httpBody(trace.slice(0, 4), 'counter', SECRET);
    const edit = fc.record({
      at: fc.nat({ max: body.length - 1 }),
      drop: fc.nat({ max: 3 }),
      insert: fc.constantFrom('', '{', '}', '[', ']', '"', '\\', ',', ':', '1.0', 'NaN', '\\u0000', 'é', ' ', '{"a":1}', '"resource_metadata":'),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        let text = body;
        for (const e of edits) text = text.slice(0, Math.min(e.at, text.length)) + e.insert + text.slice(Math.min(e.at, text.length) + e.drop);
        same(http, text);
      }),
      { seed: 20261203, numRuns: 60 },
    );
  });
});

describe('interned metadata', () => {
  it('is frozen: a write throws and later samples keep the value as sent', () => {
    clearInterned();
    const body = Buffer.from(httpBody(trace.slice(0, 2), 'counter', SECRET));
    const first = parseHttpBody(body, { secret: SECRET }).samples[0]!;
    expect(Object.isFrozen(first.resource_metadata)).toBe(true);
    expect(() => {
      (first.resource_metadata as Record<string, unknown>).status = 'changed';
    }).toThrow(TypeError);
    const flavor = first.resource_metadata.flavor as Record<string, unknown>;
    expect(() => {
      flavor.vcpus = 1;
    }).toThrow(TypeError);
    const again = parseHttpBody(body, { secret: SECRET });
    expect(again.rejects).toEqual([]);
    expect(again.samples[0]!.resource_metadata).toEqual(trace[0]!.resource_metadata);
  });

  it('stays within its bound however many distinct metadata texts arrive', () => {
    clearInterned();
    const item = JSON.stringify(realItem());
    const pad = 'x'.repeat(20_000);
    for (let i = 0; i < 600; i++) parseHttpBody(Buffer.from(`[${replaceMeta(item, `{"n":${i},"pad":"${pad}"}`)}]`), { secret: '' });
    const stats = internedStats();
    expect(stats.chars).toBeLessThanOrEqual(MAX_INTERNED_CHARS);
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.entries).toBeLessThan(600);
  });
});

describe('quick storability verdict against the full walk', () => {
  const key = fc.oneof(fc.constantFrom('a', 'b', 'a.b', '$x', '%24x', 'k\u0000', '\ud800', 'é', 'x.y.z', ''), fc.string({ maxLength: 4 }));
  const leaf = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('\ud800', '\udc00x', '😀'), fc.integer(), fc.constant(null), fc.boolean());
  const tree = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, tie('dict'), fc.array(tie('value'), { maxLength: 3 })),
    dict: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  }));
  it('the same problems for arbitrary metadata and depth limits (property, bounded)', () => {
    fc.assert(
      fc.property(tree.dict as fc.Arbitrary<Record<string, unknown>>, fc.integer({ min: 1, max: 6 }), (meta, maxDepth) => {
        const sample = { ...trace[0]!, resource_metadata: meta };
        expect(storableProblems(sample, { maxDepth })).toEqual(storableProblemsByWalk(sample, { maxDepth }));
      }),
      { seed: 20261203, numRuns: 400 },
    );
  });
});
