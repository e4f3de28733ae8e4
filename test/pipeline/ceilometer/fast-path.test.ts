import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BSON, Double, Long } from 'mongodb';
import { PyFloat, itemText, parseTaggedJson, parseTaggedJsonStrict } from '../../../pipeline/ceilometer/json';
import { hmacSha256Hex } from '../../../pipeline/ceilometer/signature';
import { sortedKeys, compareCodePoints } from '../../../pipeline/ceilometer/pystr';
import { meterDocSize, prepareSample } from '../../../pipeline/store/layout';
import { forms, signatures } from './fixtures';

/**
 * The hot path's shortcuts must give exactly what the slow, obvious code gives: the engine-parse reader
 * against the character parser, the one-shot HMAC against crypto.Hmac, the sorted-key cache against a
 * fresh sort, the meter document size against BSON.calculateObjectSize.
 */

/** The reference tree with fractional float literals as numbers (the fast reader's form; both render the same). */
function normalise(v: unknown): unknown {
  if (v instanceof PyFloat) return Number.isInteger(v.value) || !Number.isFinite(v.value) ? { float: Object.is(v.value, -0) ? '-0' : String(v.value) } : v.value;
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).map((k) => [k, normalise((v as Record<string, unknown>)[k])]));
  return v;
}

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
