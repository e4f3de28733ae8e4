/**
 * Field validation of one Ceilometer sample item, in either wire shape, into the internal Sample.
 * Every problem is reported as "<field>: <what was expected>, got <what came>"; all problems of an
 * item are joined with "; " so one reject tells the producer everything that is wrong with it.
 */
import { COUNTER_TYPES, type CounterType, type Sample } from '../sample';
import { PyFloat, pyFloatRepr, untag } from './json';
import { hasTaggedNumbers, int64Problem, storedNumber, typedTree } from './bson-numbers';
import type { SampleBsonForms } from '../sample';
import { parseCeilometerTimestamp } from './timestamp';
import { internedFacts } from './interned';

/** Names of the fields in each wire shape. */
export interface FieldNames {
  name: string;
  type: string;
  unit: string;
  volume: string;
  id: string;
}

/** Ceilometer's meter message (`meter_message_from_counter`, both 7.0.0 and master). */
export const METER_FIELDS: FieldNames = {
  name: 'counter_name',
  type: 'counter_type',
  unit: 'counter_unit',
  volume: 'counter_volume',
  id: 'message_id',
};
/** The HTTP publisher's `Sample.as_dict()` item. */
export const AS_DICT_FIELDS: FieldNames = { name: 'name', type: 'type', unit: 'unit', volume: 'volume', id: 'id' };

/** A short, quoted description of an offending value for error messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (v instanceof PyFloat) {
    if (Number.isNaN(v.value)) return 'NaN';
    if (!Number.isFinite(v.value)) return v.value > 0 ? 'Infinity' : '-Infinity';
    return pyFloatRepr(v.value);
  }
  if (typeof v === 'string') {
    const s = v.length > 80 ? v.slice(0, 77) + '...' : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `a list of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);

const has = (o: Record<string, unknown>, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function missing(item: Record<string, unknown>, f: string, problems: string[]): boolean {
  if (!has(item, f)) {
    problems.push(`${f}: missing (required)`);
    return true;
  }
  return false;
}

function nonEmptyString(item: Record<string, unknown>, f: string, problems: string[]): string {
  if (missing(item, f, problems)) return '';
  const v = item[f];
  if (typeof v !== 'string' || v.length === 0) {
    problems.push(`${f}: expected a non-empty string, got ${describeValue(v)}`);
    return '';
  }
  return v;
}

function nullableString(item: Record<string, unknown>, f: string, problems: string[]): string | null {
  const v = item[f];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    problems.push(`${f}: expected a string or null, got ${describeValue(v)}`);
    return null;
  }
  return v;
}

/** Whether metadata holds typed numbers; worked out once for an interned object (interned.ts). */
function taggedMetadata(meta: Record<string, unknown>): boolean {
  const facts = internedFacts(meta);
  if (facts === undefined) return hasTaggedNumbers(meta);
  return (facts.tagged ??= hasTaggedNumbers(meta));
}

const PROBLEMS: string[] = [];

export type ValidationResult = { ok: true; sample: Sample } | { ok: false; reason: string };

/**
 * Validate one item (already parsed with the tagged JSON reader, or plain JS) against `fields`.
 * `signature` is stored as message_signature. `defaultSource` replaces a missing/empty source as
 * Ceilometer's Sample does (`source or 'openstack'`). `plainNumbers`: the reader found no float or
 * big-int literal needing a typed form anywhere in the input (skips looking for them in the metadata).
 */
export function validateItem(
  item: Record<string, unknown>,
  fields: FieldNames,
  signature: string,
  defaultSource: string,
  plainNumbers = false,
): ValidationResult {
  // (helpers at module level, not closures: the TypeScript loader names every closure it creates, per call;
  // the problem list is one array reused from call to call: nothing here is re-entered)
  const problems = PROBLEMS;
  problems.length = 0;
  const name = nonEmptyString(item, fields.name, problems);

  let type = 'gauge' as CounterType;
  if (!missing(item, fields.type, problems)) {
    const v = item[fields.type];
    if (typeof v !== 'string' || !(COUNTER_TYPES as readonly string[]).includes(v)) {
      problems.push(`${fields.type}: expected one of ${COUNTER_TYPES.join(', ')}, got ${describeValue(v)}`);
    } else type = v as CounterType;
  }

  let unit = '';
  if (!missing(item, fields.unit, problems)) {
    const v = item[fields.unit];
    if (typeof v !== 'string') problems.push(`${fields.unit}: expected a string, got ${describeValue(v)}`);
    else unit = v;
  }

  let volume = 0;
  let bson: SampleBsonForms | undefined;
  if (!missing(item, fields.volume, problems)) {
    const v = item[fields.volume];
    const n = v instanceof PyFloat ? v.value : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : undefined;
    const tooBig = typeof v === 'bigint' ? int64Problem(v) : undefined;
    if (n === undefined || !Number.isFinite(n)) {
      problems.push(`${fields.volume}: expected a finite number, got ${describeValue(v)}`);
    } else if (tooBig) problems.push(`${fields.volume}: ${tooBig}`);
    else {
      volume = n;
      // the literal's type where the JS number cannot say it: 1.0 is a double, 2^53+1 keeps its digits
      if (typeof v === 'bigint' || (v instanceof PyFloat && Number.isInteger(n))) bson = { counter_volume: storedNumber(v) as NonNullable<SampleBsonForms['counter_volume']> };
    }
  }

  const user_id = nullableString(item, 'user_id', problems);
  const project_id = nullableString(item, 'project_id', problems);
  const resource_id = nonEmptyString(item, 'resource_id', problems);

  let timestamp = new Date(NaN);
  if (!missing(item, 'timestamp', problems)) {
    const v = item.timestamp;
    if (typeof v !== 'string') {
      problems.push(`timestamp: expected an ISO-8601 date-time string, got ${describeValue(v)}`);
    } else {
      const parsed = parseCeilometerTimestamp(v);
      if (parsed instanceof Date) timestamp = parsed;
      else problems.push(`timestamp: ${parsed.error}, got ${describeValue(v)}`);
    }
  }

  let resource_metadata: Record<string, unknown> = {};
  const meta = item.resource_metadata;
  if (meta !== undefined && meta !== null) {
    if (!isObject(meta)) problems.push(`resource_metadata: expected an object or null, got ${describeValue(meta)}`);
    else if (plainNumbers || !taggedMetadata(meta)) resource_metadata = meta; // plain JSON values already: no copy
    else {
      const typed = typedTree(meta, 'resource_metadata');
      if ('error' in typed) problems.push(typed.error);
      else {
        resource_metadata = untag(meta) as Record<string, unknown>;
        bson = { ...bson, resource_metadata: typed.value as Record<string, unknown> };
      }
    }
  }

  let source = defaultSource;
  const src = item.source;
  if (src !== undefined && src !== null) {
    if (typeof src !== 'string') problems.push(`source: expected a string, got ${describeValue(src)}`);
    else if (src !== '') source = src;
  }

  const message_id = nonEmptyString(item, fields.id, problems);

  if (problems.length > 0) return { ok: false, reason: problems.join('; ') };
  const sample: Sample = {
    counter_name: name,
    counter_type: type,
    counter_unit: unit,
    counter_volume: volume,
    user_id,
    project_id,
    resource_id,
    timestamp,
    resource_metadata,
    source,
    message_id,
    message_signature: signature,
  };
  if (bson) Object.defineProperty(sample, 'bson', { value: bson, enumerable: false, writable: true, configurable: true });
  return { ok: true, sample };
}
