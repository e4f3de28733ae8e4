import { describe, expect, it } from 'vitest';
import { codeAt, indexIn } from '../../../pipeline/ceilometer/strings';

// The scanners call String.prototype builtins as functions (strings.ts); they must answer exactly as the
// method calls do, including out of range and with a String subclass loaded in the process (as ioredis does).
class Tagged extends String {}

describe('strings: builtins called as functions', () => {
  const texts = ['', 'a', '{"k":"v\\"x"}', 'é😀\u0000"', new Tagged('plain').toString()];
  it('codeAt equals charCodeAt at every index, before, after and at NaN', () => {
    for (const t of texts) for (const i of [-1, 0, 1, 2, t.length - 1, t.length, t.length + 5, Number.NaN]) expect(Object.is(codeAt(t, i), t.charCodeAt(i))).toBe(true);
  });
  it('indexIn equals indexOf with and without a start', () => {
    for (const t of texts) {
      for (const s of ['"', '\\', 'a', '', 'zz']) {
        expect(indexIn(t, s)).toBe(t.indexOf(s));
        for (const from of [-3, 0, 1, 3, t.length, t.length + 2]) expect(indexIn(t, s, from)).toBe(t.indexOf(s, from));
      }
    }
  });
});
