import { PyFloat } from '../../../pipeline/ceilometer/json';

/**
 * A tagged tree in comparable form: integral (and non-finite) PyFloat and bigint kept distinct from plain
 * numbers, fractional float literals as plain numbers (the fast reader's form; both render the same).
 */
export function normalise(v: unknown): unknown {
  if (v instanceof PyFloat) return Number.isInteger(v.value) || !Number.isFinite(v.value) ? { float: Object.is(v.value, -0) ? '-0' : String(v.value) } : v.value;
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).map((k) => [k, normalise((v as Record<string, unknown>)[k])]));
  return v;
}

/** Whether a tree holds a typed number: an integral (or non-finite) PyFloat or a bigint (what `plainNumbers: true` denies). */
export function hasTyped(v: unknown): boolean {
  if (v instanceof PyFloat) return Number.isInteger(v.value) || !Number.isFinite(v.value);
  if (typeof v === 'bigint') return true;
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasTyped);
  return false;
}
