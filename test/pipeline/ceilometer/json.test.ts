import { describe, expect, it } from 'vitest';
import { JsonSyntaxError, PyFloat, parseTaggedJson, pyFloatRepr, stringifyTagged, untag } from '../../../pipeline/ceilometer/json';
import { compareCodePoints, pyRepr, pyStr } from '../../../pipeline/ceilometer/pystr';

describe('tagged JSON reader', () => {
  it('keeps float literals, big ints and Python special tokens', () => {
    const v = parseTaggedJson('{"a": 1, "b": 1.0, "c": 1e16, "d": 123456789012345678901, "e": [NaN, Infinity, -Infinity], "f": -0.5}')
      .value as Record<string, unknown>;
    expect(v.a).toBe(1);
    expect(v.b).toEqual(new PyFloat(1));
    expect(v.c).toEqual(new PyFloat(1e16));
    expect(v.d).toBe(123456789012345678901n);
    expect((v.e as PyFloat[]).map((x) => x.value)).toEqual([NaN, Infinity, -Infinity]);
    expect(untag(v)).toEqual({ a: 1, b: 1, c: 1e16, d: 123456789012345680000, e: [NaN, Infinity, -Infinity], f: -0.5 });
  });

  it('reports syntax errors with line and column', () => {
    expect(() => parseTaggedJson('[1,\n  2,,3]')).toThrow('invalid JSON at line 2 column 5: unexpected ","');
    expect(() => parseTaggedJson('{"a": 1} x')).toThrow(/after the JSON value/);
    expect(() => parseTaggedJson('"abc')).toThrow(JsonSyntaxError);
    expect(() => parseTaggedJson('[01]')).toThrow(/expected ',' or '\]'/);
  });

  it('treats a "__proto__" key as data', () => {
    const v = parseTaggedJson('{"__proto__": {"polluted": true}}').value as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('serialises floats back in Python form so signatures survive a re-write', () => {
    const text = '{"v": 1.0, "w": 1e16, "x": [NaN, 2], "y": 123456789012345678901}';
    expect(stringifyTagged(parseTaggedJson(text).value)).toBe('{"v": 1.0, "w": 1e+16, "x": [NaN, 2], "y": 123456789012345678901}');
  });
});

describe('Python rendering', () => {
  it.each([
    [1, '1.0'], [1e16, '1e+16'], [1e15, '1000000000000000.0'], [1e-5, '1e-05'], [0.0001, '0.0001'],
    [0.1 + 0.2, '0.30000000000000004'], [-0, '-0.0'], [1.5e-7, '1.5e-07'], [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'], [123456789.123, '123456789.123'], [Infinity, 'inf'], [NaN, 'nan'],
  ])('float %s → %s', (x, py) => {
    expect(pyFloatRepr(x)).toBe(py);
  });

  it('renders scalars and lists as str() does', () => {
    expect(pyStr(null)).toBe('None');
    expect(pyStr(true)).toBe('True');
    expect(pyStr('é')).toBe('é');
    expect(pyStr(['a', 1, null, new PyFloat(2), false], 'legacy')).toBe("['a', 1, None, 2.0, False]");
    expect(pyStr(['a', 'é'], 'master')).toBe("[b'a', b'\\xc3\\xa9']");
    expect(pyRepr(["it's"], 'legacy')).toBe('["it\'s"]');
    expect(pyRepr(['both \' and "'], 'legacy')).toBe("['both \\' and \"']");
    expect(pyRepr([{ b: 1, a: 'x' }], 'legacy')).toBe("[{'a': 'x', 'b': 1}]");
  });

  it('sorts keys by code point like Python, not by UTF-16 unit', () => {
    expect(['\u{1F600}', '\uFF21', 'a'].sort(compareCodePoints)).toEqual(['a', '\uFF21', '\u{1F600}']);
  });
});
