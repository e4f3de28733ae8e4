import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BSON, Double, Long } from 'mongodb';
import { PyFloat, itemText, parseKnownSamples, parseTaggedJson, parseTaggedJsonStrict } from '../../../pipeline/ceilometer/json';
import { hasTyped, normalise } from './tagged-tree';
import { hmacSha256Hex } from '../../../pipeline/ceilometer/signature';
import { parseHttpBody, parseKafkaValue } from '../../../pipeline/ceilometer/normalize';
import { sortedKeys, sortedShape, compareCodePoints } from '../../../pipeline/ceilometer/pystr';
import { meterDocSize, prepareSample } from '../../../pipeline/store/layout';
import { forms, signatures } from './fixtures';

/**
 * The hot path's shortcuts must give exactly what the slow, obvious code gives: the engine-parse reader
 * against the character parser, the one-shot HMAC against crypto.Hmac, the sorted-key cache against a
 * fresh sort, the meter document size against BSON.calculateObjectSize.
 */


function sameParse(text: string): void {
  const fast = parseTaggedJson(text);
  const slow = parseTaggedJsonStrict(text);
  expect(normalise(fast.value)).toEqual(normalise(slow.value));
  // element spans of the top-level list and of a notification payload match the character parser's
  const lists: unknown[][] = [];
  if (Array.isArray(slow.value)) lists.push(slow.value);
  const fastLists: unknown[][] = Array.isArray(fast.value) ? [fast.value] : [];
  for (let i = 0; i < lists.length; i++) {
    for (let k = 0; k < lists[i]!.length; k++) expect(itemText(fast, text, fastLists[i] as never, k)).toBe(itemText(slow, text, lists[i] as never, k));
  }
}

describe('fast JSON reader', () => {
  it('gives the character parser\'s tree for every Ceilometer fixture (vectors, bodies, envelopes)', () => {
    for (const v of signatures().vectors) sameParse(v.message_json);
    const f = forms();
    sameParse(f.http_body);
    for (const v of [...f.kafka_values, ...f.legacy_kafka_values]) sameParse(v);
    sameParse(f.oslo_envelope);
    sameParse(JSON.parse(f.oslo_envelope)['oslo.message']);
    sameParse(f.polling_notification);
  });

  it.each([
    ['[1, 1.0, -0.0, 1e16, 1.5, 12345678901234567890, -12345678901234567890, 9007199254740991, NaN, Infinity, -Infinity]'],
    ['{"a": [ {"b": "x\\"y\\\\", "c": 2.0 } , [ ] , "]" ] , "d" : {"e": [1e2, "1.0"]}}'],
    ['{"payload": {"samples": [{"v": 3.0}, {"v": 3}]}, "payload": [{"v": 4.00}]}'],
    ['  [ "\\u00e9", "\\ud83d\\ude00", {"__proto__": {"x": 1.0}} ]  '],
    ['"just a string"'],
    ['[1E+2, 1e-2, 0.0, 10.50]'],
    ['{"k\\u0001": 1.0, "s": "ends with backslash \\\\"}'],
  ])('same tree as the character parser: %s', (text) => sameParse(text));

  it('keeps the spans of a notification\'s payload list, also inside an oslo envelope', () => {
    const inner = '{"event_type": "metering", "payload": [{"a": 1.0}, {"b": [1, 2]}, 3]}';
    const parsed = parseTaggedJson(inner);
    const payload = (parsed.value as { payload: unknown[] }).payload;
    expect([0, 1, 2].map((i) => itemText(parsed, inner, payload as never, i))).toEqual(['{"a": 1.0}', '{"b": [1, 2]}', '3']);
  });

  it('falls back to the character parser for its exact errors and for NUL escapes', () => {
    expect(() => parseTaggedJson('[1,\n  2,,3]')).toThrow('invalid JSON at line 2 column 5: unexpected ","');
    expect(() => parseTaggedJson('[-NaN]')).toThrow(/invalid JSON/);
    const v = parseTaggedJson('["\\u0000f1.0", 1.0]').value as unknown[];
    expect(v[0]).toBe('\u0000f1.0'); // a string that looks like the reader's marker stays a string
    expect(v[1]).toEqual(new PyFloat(1));
    expect(() => parseTaggedJson('['.repeat(600) + ']'.repeat(600))).toThrow(/nesting deeper than 512/);
  });
});


describe('known-sample reader (a Kafka meter message whose metadata was read before)', () => {
  let n = 0;
  /** A meter message around `members` (JSON text of more top-level members), with metadata of its own. */
  const message = (members: string, sep = ','): { text: string; meta: string } => {
    const meta = `{"display_name": "vm-${n++}", "flavor": {"ram": 512, "vcpus": 2}, "tags": ["a", 1.5], "image_ref": null}`;
    return { meta, text: `{"counter_name": "cpu"${sep} "counter_type": "cumulative"${sep} "resource_metadata": ${meta}${sep} ${members}}` };
  };
  /** Read `text` once to intern its metadata, then again: the second read must equal the reference reader's. */
  const secondRead = (text: string) => {
    parseTaggedJson(text, { intern: true });
    const again = parseTaggedJson(text, { intern: true });
    const slow = parseTaggedJsonStrict(text);
    expect(normalise(again.value)).toEqual(normalise(slow.value));
    if (again.plainNumbers) expect(hasTyped(again.value)).toBe(false);
    return again;
  };

  it.each([
    ['an integer volume', '"counter_volume": 5, "message_id": "m"'],
    ['a fractional volume', '"counter_volume": 4.25, "message_id": "m"'],
    ['an integral float volume', '"counter_volume": 1.0, "message_id": "m"'],
    ['exponent forms', '"counter_volume": 1E+2, "x": 2.5e1, "message_id": "m"'],
    ['negative zero, both ways', '"counter_volume": -0.0, "x": -0, "message_id": "m"'],
    ['an integer beyond 2^53', '"counter_volume": 12345678901234567890, "x": -12345678901234567890'],
    ['the largest safe integer', '"counter_volume": 9007199254740991'],
    ['a float "__proto__" member', '"__proto__": 3.0, "counter_volume": 1'],
    ['null, booleans and strings with braces-free punctuation', '"a": null, "b": true, "c": "x: 1.0, y", "counter_volume": 7'],
  ])('takes %s and reads it exactly', (_name, members) => {
    const { text } = message(members);
    secondRead(text);
    expect(parseKnownSamples(text)).toBeDefined();
    expect(parseKnownSamples(message(members, ',\n  ').text.replace(/,\n {2}/g, ' ,\t'))).toBeUndefined(); // not interned yet: read by the scan
  });

  it('reads the compact layout and the layout Python\'s json.dumps writes alike', () => {
    const compact = message('"counter_volume":1.0').text.replace(/": /g, '":').replace(/, "/g, ',"');
    secondRead(compact);
    expect(parseKnownSamples(compact)).toBeDefined();
  });

  it.each([
    ['a duplicate volume (the last one wins)', '"counter_volume": 2.5, "counter_volume": 1.0'],
    ['a duplicate integral volume', '"counter_volume": 1.0, "counter_volume": 2'],
    ['a later resource_metadata null', '"resource_metadata": null'],
    ['an earlier name as a string value', '"x": "counter_volume", "counter_volume": 1.0'],
    ['a backslash in a value', '"x": "a\\"b", "counter_volume": 1.0'],
    ['a list outside the metadata', '"x": [1.0], "counter_volume": 2'],
    ['an object outside the metadata', '"x": {"y": 1.0}, "counter_volume": 2'],
    ['NaN', '"counter_volume": NaN'],
    ['Infinity', '"counter_volume": -Infinity'],
    ['more integral numbers than it looks up', '"a": 1.0, "b": 2, "c": 3.0, "d": 4, "e": 5.0'],
    ['a syntax error after the metadata', '"counter_volume": 1.0,'],
  ])('leaves %s to the scan, with the same result', (_name, members) => {
    const { text, meta } = message(members);
    parseTaggedJson(`{"resource_metadata": ${meta}}`, { intern: true }); // the metadata is known
    expect(parseKnownSamples(text)).toBeUndefined();
    if (members.endsWith(',')) expect(() => parseTaggedJson(text, { intern: true })).toThrow(/invalid JSON at line 1 column \d+: expected a string key/);
    else secondRead(text);
  });

  it('takes a resource_metadata string or scalar member before the key (the later member wins), leaves metadata with typed numbers to the scan', () => {
    for (const before of ['"x": "resource_metadata"', '"resource_metadata": 5']) {
      const early = `{${before}, ${message('"counter_volume": 1.0').text.slice(1)}`;
      secondRead(early);
      expect(parseKnownSamples(early)).toBeDefined();
    }
    const typed = message('"counter_volume": 1').text.replace('"ram": 512', '"ram": 512.0');
    secondRead(typed);
    expect(parseKnownSamples(typed)).toBeUndefined();
  });

  /** A publisher body of samples whose metadata is known: read the way the HTTP route reads it, spans included. */
  const knownList = (items: string[], sep = ', '): string => {
    const text = `[${items.join(sep)}]`;
    parseTaggedJson(text, { intern: true }); // the metadata texts become known
    sameParse(text);
    const again = parseTaggedJson(text, { intern: true });
    expect(normalise(again.value)).toEqual(normalise(parseTaggedJsonStrict(text).value));
    return text;
  };

  it('takes a list of such samples (an HTTP body), with each sample\'s span as the reference reader gives it', () => {
    const items = ['"counter_volume": 1.0', '"counter_volume": 2', '"counter_volume": 3.5, "x": 12345678901234567890'].map((m) => message(m).text);
    const spaced = knownList(items);
    expect(parseKnownSamples(spaced)).toBeDefined();
    const compact = knownList(items.map((t) => t.replace(/": /g, '":').replace(/, "/g, ',"')), ',');
    const parsed = parseKnownSamples(compact)!;
    const list = parsed.value as unknown[];
    expect(list.map((_, i) => itemText(parsed, compact, list as never, i))).toEqual(items.map((t) => t.replace(/": /g, '":').replace(/, "/g, ',"')));
    expect(parsed.plainNumbers).toBe(false);
  });

  it.each([
    ['a brace inside a string', '"counter_volume": 1.0, "x": "a}b"'],
    ['an object inside a sample', '"counter_volume": 1.0, "x": {"y": 2}'],
    ['a list inside a sample', '"counter_volume": 1.0, "x": [2]'],
    ['a second resource_metadata', '"counter_volume": 1.0, "resource_metadata": null'],
  ])('leaves a list with %s to the scan, with the same result and spans', (_name, members) => {
    const text = knownList([message('"counter_volume": 2').text, message(members).text]);
    expect(parseKnownSamples(text)).toBeUndefined();
  });

  it('leaves a list with a sample without metadata, or an element that is not an object, to the scan', () => {
    const withMeta = message('"counter_volume": 2').text;
    for (const other of ['{"counter_volume": 1.0}', '7', '"{}"']) {
      const text = knownList([withMeta, other]);
      expect(parseKnownSamples(text)).toBeUndefined();
    }
  });

  it('a poison sample first, last, or alone still comes back on its own, with its exact text, through this reader', () => {
    const meta = message('').meta;
    const item = (id: string, volume: string) =>
      `{"counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns", "counter_volume": ${volume}, "user_id": "u", "project_id": "p", "resource_id": "r", "timestamp": "2026-12-03T00:00:00", "resource_metadata": ${meta}, "source": "openstack", "message_id": "${id}"}`;
    const items = [item('bad-first', '"x"'), item('ok-1', '1.0'), item('ok-2', '2'), item('bad-last', 'null')];
    const body = `[${items.join(', ')}]`;
    parseTaggedJson(body, { intern: true }); // the metadata becomes known
    expect(parseKnownSamples(body)).toBeDefined();
    const r = parseHttpBody(Buffer.from(body), {});
    expect(r.samples.map((x) => [x.message_id, x.counter_volume])).toEqual([['ok-1', 1], ['ok-2', 2]]);
    expect(r.rejects.map((x) => [x.index, x.message_id, x.payload])).toEqual([[0, 'bad-first', items[0]], [3, 'bad-last', items[3]]]);
    // a Kafka message alone
    const alone = item('bad-alone', '"x"');
    expect(parseKnownSamples(alone)).toBeDefined();
    const k = parseKafkaValue(Buffer.from(alone), {});
    expect(k.samples).toEqual([]);
    expect(k.rejects.map((x) => [x.index, x.message_id, x.payload])).toEqual([[0, 'bad-alone', alone]]);
    expect(k.rejects[0]!.reason).toMatch(/^counter_volume: expected a finite number/);
  });

  it('gives every sample with that metadata the one interned object', () => {
    const { text } = message('"counter_volume": 1.0');
    const a = secondRead(text).value as Record<string, unknown>;
    const b = parseTaggedJson(text.replace('1.0', '2.0'), { intern: true }).value as Record<string, unknown>;
    expect(b.resource_metadata).toBe(a.resource_metadata);
    expect(Object.isFrozen(a.resource_metadata)).toBe(true);
    expect(b.counter_volume).toEqual(new PyFloat(2));
  });
});

describe('hot path shortcuts', () => {
  it('one-shot HMAC equals crypto.Hmac for short, block-sized, long and non-ASCII secrets and texts', () => {
    for (const key of ['k', 'change this for valid signing', 'x'.repeat(64), 'y'.repeat(65), 'é'.repeat(40)]) {
      for (const text of ['', 'abc', 'é😀'.repeat(3000), 'z'.repeat(40_000)]) {
        expect(hmacSha256Hex(key, text)).toBe(createHmac('sha256', key).update(text, 'utf8').digest('hex'));
      }
    }
  });

  it('sorted keys come from the cache only for the very same key list', () => {
    const a = sortedKeys({ b: 1, a: 2, c: 3 });
    expect(sortedKeys({ b: 1, a: 2, c: 3 })).toEqual(['a', 'b', 'c']);
    expect(sortedKeys({ b: 1, a: 2, d: 3 })).toEqual(['a', 'b', 'd']);
    expect(sortedKeys({ '\u{1F600}': 1, '\uFF21': 2, a: 3 })).toEqual(['a', '\uFF21', '\u{1F600}'].sort(compareCodePoints));
    expect(a).toEqual(['a', 'b', 'c']);
  });

  it('the sorted shape reads each value where Object.values puts it (integer-like keys first, "__proto__" own)', () => {
    for (const text of ['{"b": 1, "10": 2, "a": 3, "2": 4}', '{"__proto__": 5, "z": 6, "\ud83d\ude00": 7, "\uff21": 8}', '{"x": 1}', '{}']) {
      const obj = JSON.parse(text) as Record<string, unknown>;
      for (let round = 0; round < 2; round++) {
        const { keys, order } = sortedShape(obj);
        const values = Object.values(obj);
        expect([...keys]).toEqual(Object.keys(obj).sort(compareCodePoints));
        expect(keys.map((_, i) => values[order[i]!])).toEqual(keys.map((k) => obj[k]));
      }
    }
  });

  it('the meter document size is BSON.calculateObjectSize of the document', () => {
    const base = { counter_name: 'cpu', counter_type: 'gauge' as const, counter_unit: 'é%', counter_volume: 2 ** 40, user_id: null, project_id: 'p', resource_id: 'r', timestamp: new Date(0), source: 's', message_id: 'x', message_signature: '' };
    const metas: Array<Record<string, unknown>> = [
      {},
      { a: 1, b: 'é😀', c: [1, 'x', null, true, [2.5]], d: { e: { f: -1 } }, 'ключ': 0.5 },
      { 'a.b': 1, $c: 2, big: 2 ** 53 - 1, t: new Date(5), l: Long.fromNumber(7), dbl: new Double(1) },
      { u: undefined, n: null },
    ];
    for (const resource_metadata of metas) {
      const p = prepareSample({ ...base, resource_metadata });
      expect(p.bsonSize).toBe(BSON.calculateObjectSize(p.doc));
      expect(meterDocSize(p.doc)).toBe(BSON.calculateObjectSize(p.doc));
    }
  });
});
