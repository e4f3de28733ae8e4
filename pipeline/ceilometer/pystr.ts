/**
 * Python `str()` / `repr()` of JSON-derived values, exactly as Ceilometer's compute_signature
 * feeds them to the HMAC. Works on trees from the tagged JSON reader (PyFloat = float literal,
 * bigint = big int) and on plain JS values (an integral number < 1e21 is treated as a Python int,
 * because JSON.stringify writes it without a decimal point and Python will read it back as int).
 */
import { PyFloat, pyFloatRepr } from './json';

/**
 * How list contents are rendered. `master`: decode_unicode turns every str inside a list into
 * UTF-8 bytes (`['a']` hashes as "[b'a']") and dicts inside lists into key-sorted dicts.
 * `legacy`: Ceilometer 7.0.0 on Python 3 — the plain repr (`"['a']"`), dict keys sorted.
 */
export type ListForm = 'master' | 'legacy';

/** Compare strings by Unicode code point, as Python's sorted() does for str keys. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++; // skip the low surrogate of an astral character
  }
  return a.length - b.length;
}

// eslint-disable-next-line no-control-regex
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Recently sorted key lists: the keys as found, and their sorted order. Samples of one producer share a
 * few shapes (the message, the metadata of each resource kind), and property names of parsed objects are
 * internalised strings, so recognising a known shape is a few pointer comparisons.
 */
export interface SortedShape {
  /** The keys sorted by code point (callers must not modify it). */
  readonly keys: readonly string[];
  /** For each sorted key, its index among the keys as found (= in `Object.values(obj)`). */
  readonly order: readonly number[];
}
const recentShapes: Array<[string[], SortedShape]> = [];
const RECENT_SHAPES = 8;
const NO_ORDER: readonly number[] = Object.freeze([]);
const FIRST: readonly number[] = Object.freeze([0]);

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The object's keys sorted by code point, with where each stands among its keys as found, so a caller
 * can read the values with one `Object.values(obj)` instead of a keyed lookup per key. The engine's
 * sort (UTF-16 units) gives the same order unless a key holds an astral character.
 */
export function sortedShape(obj: object): SortedShape {
  const keys = Object.keys(obj);
  // nothing to sort (and nothing to push the message's shape out of the cache)
  if (keys.length < 2) return { keys, order: keys.length === 0 ? NO_ORDER : FIRST };
  for (let i = 0; i < recentShapes.length; i++) {
    const entry = recentShapes[i]!;
    if (sameKeys(entry[0], keys)) return entry[1];
  }
  const found = keys.slice();
  let sorted: string[] | undefined;
  for (let i = 0; i < keys.length && !sorted; i++) if (SURROGATE.test(keys[i]!)) sorted = keys.sort(compareCodePoints);
  sorted ??= keys.sort();
  const at = new Map(found.map((k, i) => [k, i]));
  const shape: SortedShape = { keys: sorted, order: sorted.map((k) => at.get(k)!) };
  recentShapes.unshift([found, shape]);
  if (recentShapes.length > RECENT_SHAPES) recentShapes.pop();
  return shape;
}

/** Keys sorted by code point (callers must not modify the array); see sortedShape. */
export function sortedKeys(obj: object): readonly string[] {
  return sortedShape(obj).keys;
}

function isPlainInt(x: number): boolean {
  return Number.isInteger(x) && Math.abs(x) < 1e21;
}

/** Python str() of a scalar (top-level flattened value); lists/dicts go through pyRepr. */
export function pyStr(value: unknown, form: ListForm = 'master'): string {
  if (typeof value === 'string') return value;
  return pyRepr(value, form);
}

/** Python repr() of a value (how it appears inside a list's str()). */
export function pyRepr(value: unknown, form: ListForm = 'master'): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      // String() writes every integer below 1e21 as plain digits, as Python's int does
      return isPlainInt(value) ? (Object.is(value, -0) ? '0' : String(value)) : pyFloatRepr(value);
    case 'string':
      return form === 'master' ? pyBytesRepr(Buffer.from(value, 'utf8')) : pyStrRepr(value);
  }
  if (Array.isArray(value)) return '[' + value.map((v) => pyRepr(v, form)).join(', ') + ']';
  if (typeof value === 'object') {
    // decode_unicode rebuilds dicts with keys in sorted order.
    const obj = value as Record<string, unknown>;
    return '{' + sortedKeys(obj).map((k) => `${pyRepr(k, form)}: ${pyRepr(obj[k], form)}`).join(', ') + '}';
  }
  throw new TypeError(`cannot render a ${typeof value} as a Python value`);
}

/** Python's choice of quote: single, unless the text has ' and no ". */
function pickQuote(hasSingle: boolean, hasDouble: boolean): string {
  return hasSingle && !hasDouble ? '"' : "'";
}

const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/** repr() of a Python str. */
export function pyStrRepr(s: string): string {
  const quote = pickQuote(s.includes("'"), s.includes('"'));
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x7f || ch === ' ') out += ch;
    else if (NON_PRINTABLE.test(ch)) {
      if (cp <= 0xff) out += '\\x' + cp.toString(16).padStart(2, '0');
      else if (cp <= 0xffff) out += '\\u' + cp.toString(16).padStart(4, '0');
      else out += '\\U' + cp.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

/** repr() of Python bytes. */
export function pyBytesRepr(bytes: Uint8Array): string {
  const quote = pickQuote(bytes.includes(0x27), bytes.includes(0x22));
  let out = 'b' + quote;
  for (const b of bytes) {
    if (b === quote.charCodeAt(0) || b === 0x5c) out += '\\' + String.fromCharCode(b);
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b < 0x20 || b >= 0x7f) out += '\\x' + b.toString(16).padStart(2, '0');
    else out += String.fromCharCode(b);
  }
  return out + quote;
}
