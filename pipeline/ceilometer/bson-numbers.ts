/**
 * Number types as Ceilometer's MongoDB driver stored them. pymongo encodes a Python `int` as BSON int32
 * when it fits, else int64, and raises OverflowError beyond int64; a Python `float` is always a double,
 * integral or not. Python's json module gives an `int` for an integer literal and a `float` for any
 * literal with a fraction or exponent (and NaN/Infinity). So, for `counter_volume` and every number in
 * `resource_metadata`:
 *  - integer literal within int32 → int32 (a JS number; the driver writes int32 for those);
 *  - integer literal beyond int32, within int64 → int64 (`Long`, exact, also beyond 2^53);
 *  - float literal → double, also when integral (`1.0`, `1e16`, `-0.0`: a `Double` wrapper, since the
 *    driver would write an integral JS number as int32);
 *  - integer literal beyond int64 → the sample is rejected (dead-lettered) naming the field: the old
 *    driver could not store it either (OverflowError), and a double would silently lose digits.
 * Samples built in-process (trace replay, the estimator's generator) carry plain JS numbers: an integral
 * one is treated as an int, like JSON.stringify writes it and Python reads it back.
 */
import { Double, Long } from 'mongodb';
import { PyFloat } from './json';
import { codeAt } from './strings';

export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A stored BSON number: a JS number (int32 when integral, else double), a Double or a Long. */
export type StoredNumber = number | Double | Long;

/** Why a literal cannot be stored, or undefined. */
export function int64Problem(v: bigint): string | undefined {
  if (v >= INT64_MIN && v <= INT64_MAX) return undefined;
  return `integer ${v} is outside the int64 range MongoDB stores (-2^63 .. 2^63-1); Ceilometer's MongoDB driver could not store it either`;
}

/** The stored form of a plain JS number (in-process samples, or an int literal within ±2^53). */
export function storedPlainNumber(x: number): StoredNumber {
  if (!Number.isInteger(x) || (x >= INT32_MIN && x <= INT32_MAX)) return x;
  if (Math.abs(x) < 2 ** 63) return Long.fromNumber(x);
  return x; // an integral double beyond int64 can only come from in-process arithmetic: stays a double
}

/** The stored form of a value from the tagged JSON reader; bigints must be within int64 (see int64Problem). */
export function storedNumber(v: number | PyFloat | bigint): StoredNumber {
  if (v instanceof PyFloat) return Number.isInteger(v.value) ? new Double(v.value) : v.value;
  if (typeof v === 'bigint') return Long.fromBigInt(v);
  return storedPlainNumber(v);
}

const isBson = (v: object): boolean => (v as { _bsontype?: unknown })._bsontype !== undefined;

/** Whether a tagged tree holds a PyFloat or bigint anywhere (the stored form then differs from the plain one). */
export function hasTaggedNumbers(v: unknown): boolean {
  if (typeof v === 'bigint' || v instanceof PyFloat) return true;
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasTaggedNumbers(v[i])) return true;
    return false;
  }
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) if (hasTaggedNumbers((v as Record<string, unknown>)[keys[i]!])) return true;
  return false;
}

/**
 * The stored (BSON-typed) copy of a tagged tree: PyFloat → Double or number, bigint → Long, and the
 * path of the first integer beyond int64 as an error. Keys are kept as they are.
 */
export function typedTree(v: unknown, path: string): { value: unknown } | { error: string } {
  if (typeof v === 'bigint') {
    const problem = int64Problem(v);
    return problem ? { error: `${path}: ${problem}` } : { value: Long.fromBigInt(v) };
  }
  if (v instanceof PyFloat) return { value: storedNumber(v) };
  if (typeof v === 'number') return { value: storedPlainNumber(v) };
  if (v === null || typeof v !== 'object') return { value: v };
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = typedTree(v[i], `${path}[${i}]`);
      if ('error' in r) return r;
      out.push(r.value);
    }
    return { value: out };
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const r = typedTree((v as Record<string, unknown>)[k], `${path}.${k}`);
    if ('error' in r) return r;
    Object.defineProperty(out, k, { value: r.value, enumerable: true, writable: true, configurable: true });
  }
  return { value: out };
}

/**
 * Whether a metadata tree (plain or typed) needs rewriting before it is stored: a key Ceilometer escaped
 * (containing '.' or starting with '$'), or an integral JS number beyond int32 (→ Long).
 */
export function needsStoredRewrite(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v) && (v < INT32_MIN || v > INT32_MAX);
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsStoredRewrite(v[i])) return true;
    return false;
  }
  if (isBson(v) || v instanceof Date) return false;
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (codeAt(k, 0) === 36 || k.includes('.')) return true;
    if (needsStoredRewrite((v as Record<string, unknown>)[k])) return true;
  }
  return false;
}

/** Plain JS numbers beyond int32 → Long, in a copy (typed leaves and other values kept). */
export function widenIntegers(v: unknown): unknown {
  if (typeof v === 'number') return storedPlainNumber(v);
  if (v === null || typeof v !== 'object' || isBson(v) || v instanceof Date || Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(widenIntegers);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: widenIntegers((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

/** The plain JS number of a stored counter_volume read back from MongoDB (number, Long, Double, Int32, Decimal128). */
export function volumeNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') {
    const t = (v as { _bsontype?: string })._bsontype;
    if (t === 'Long') return (v as Long).toNumber();
    if (t === 'Double' || t === 'Int32') return (v as Double).value;
    if (t === 'Decimal128') return Number(String(v));
  }
  return Number(v);
}
