import { describe, expect, it } from 'vitest';
import { escapeMetadataKeys, pyQuote, unescapeMetadataKeys } from '../../../pipeline/ceilometer/keys';

describe('metadata key escaping (Ceilometer improve_keys / unquote_keys)', () => {
  it('nests dotted keys and quotes leading $', () => {
    expect(escapeMetadataKeys({ 'a.b': 1, $set: 2, 'x.$y.z': 3, plain: { 'in.ner': 4, $deep: 5 }, list: [{ 'k.k': 1 }] })).toEqual({
      a: { b: 1 },
      '%24set': 2,
      x: { '%24y': { z: 3 } },
      plain: { in: { ner: 4 }, '%24deep': 5 },
      list: [{ 'k.k': 1 }],
    });
  });

  it('merges dotted keys into an existing sibling instead of clobbering it', () => {
    expect(escapeMetadataKeys({ a: { x: 1 }, 'a.b': 2 })).toEqual({ a: { x: 1, b: 2 } });
  });

  it('quotes like urllib.parse.quote and unescape restores $ keys', () => {
    expect(pyQuote('$a b/é')).toBe('%24a%20b/%C3%A9');
    const original = { $set: 1, nested: { '$a b': 2 }, keep: '%24notakey' };
    expect(unescapeMetadataKeys(escapeMetadataKeys(original))).toEqual(original);
  });

  it('does not mutate its input', () => {
    const input = { 'a.b': 1 };
    escapeMetadataKeys(input);
    expect(input).toEqual({ 'a.b': 1 });
  });
});
