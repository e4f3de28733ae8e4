import { BSON, ObjectId, type Double, type Long } from 'mongodb';
import { SAMPLE_FIELDS, type RequiredKeys, type Sample, type SameKeys, type StoredSample } from '../sample';
import { escapeMetadataKeys } from '../ceilometer/keys';
import { needsStoredRewrite, storedPlainNumber, widenIntegers } from '../ceilometer/bson-numbers';
import { internedFacts } from '../ceilometer/interned';
import { codeAt } from '../ceilometer/strings';

/**
 * The metering store's document shapes, byte-compatible with Ceilometer's legacy MongoDB driver
 * (7.0.0 `storage/impl_mongodb.py`): a Ceilometer-era reader does `models.Sample(**doc)` on a `meter`
 * document minus `_id`, so `meter` carries exactly Ceilometer's fields and nothing else. What the
 * product needs beyond that lives in collections Ceilometer never read (`meter_flags`, `dead_letter`).
 */
export const COLLECTIONS = {
  meter: 'meter',
  resource: 'resource',
  /** Per-sample flags that must not appear in `meter` (e.g. signature_invalid under signaturePolicy flag). */
  meterFlags: 'meter_flags',
  deadLetter: 'dead_letter',
  /** One document the ingestor rewrites to tell a store that refuses a batch from a store that is down. */
  ingestProbe: 'ingest_probe',
} as const;

/** The top-level fields of a `meter` document besides `_id`, in Ceilometer's order. */
export const METER_FIELDS = [...SAMPLE_FIELDS, 'recorded_at'] as const;
export type MeterField = (typeof METER_FIELDS)[number];

export interface MeterDoc {
  _id: ObjectId;
  source: string;
  counter_name: string;
  counter_type: string;
  counter_unit: string;
  /** int32 (a JS number), int64 (Long) or double (a JS number, or Double when integral): see ceilometer/bson-numbers.ts. */
  counter_volume: number | Double | Long;
  user_id: string | null;
  project_id: string | null;
  resource_id: string;
  timestamp: Date;
  resource_metadata: Record<string, unknown>;
  message_id: string;
  message_signature: string;
  recorded_at: Date;
}

// A `meter` document holds exactly `_id` and METER_FIELDS.
true satisfies SameKeys<RequiredKeys<MeterDoc>, '_id' | MeterField>;

export interface ResourceMeterRef {
  counter_name: string;
  counter_type: string;
  counter_unit: string;
}

/** Ceilometer's `resource` document. */
export interface ResourceDoc {
  _id: string;
  metadata: Record<string, unknown>;
  user_id: string | null;
  project_id: string | null;
  source: string;
  first_sample_timestamp: Date;
  last_sample_timestamp: Date;
  meter: ResourceMeterRef[];
}

/** `meter_flags` document: keyed by message id, so writing it again is a no-op. */
export interface MeterFlagDoc {
  _id: string;
  signature_invalid: boolean;
  flagged_at: Date;
}

/**
 * A sample ready to write: its `meter` document (with a pre-assigned `_id`, so a retried insert of a
 * document that already landed is recognisable) and the document's exact BSON size.
 */
export interface PreparedSample {
  sample: Sample;
  doc: MeterDoc;
  bsonSize: number;
}

/**
 * `resource_metadata` as stored: keys escaped as Ceilometer's `improve_keys` did, integers beyond int32
 * as int64, the parser's typed literals kept (ceilometer/bson-numbers.ts). The usual metadata needs none
 * of it and is stored as it is, without a copy.
 */
export function storedMetadata(sample: Sample): Record<string, unknown> {
  const m = sample.bson?.resource_metadata ?? sample.resource_metadata;
  return needsStoredRewrite(m) ? (widenIntegers(escapeMetadataKeys(m)) as Record<string, unknown>) : m;
}

/** The `meter` document for a sample: Ceilometer's fields only, metadata keys escaped (`improve_keys`), Ceilometer's number types. */
export function meterDocument(sample: Sample, recordedAt: Date, id: ObjectId = new ObjectId(), metadata = storedMetadata(sample)): MeterDoc {
  return {
    _id: id,
    source: sample.source,
    counter_name: sample.counter_name,
    counter_type: sample.counter_type,
    counter_unit: sample.counter_unit,
    counter_volume: sample.bson?.counter_volume ?? storedPlainNumber(sample.counter_volume),
    user_id: sample.user_id,
    project_id: sample.project_id,
    resource_id: sample.resource_id,
    timestamp: sample.timestamp,
    resource_metadata: metadata,
    message_id: sample.message_id,
    message_signature: sample.message_signature,
    recorded_at: recordedAt,
  };
}

/** BSON bytes of one element (type byte, key, value) of a top-level `meter` field whose value is not a document. */
function elementSize(key: string, v: unknown): number {
  const head = 2 + key.length; // type byte + key (ASCII field names) + NUL
  if (typeof v === 'string') return head + 5 + Buffer.byteLength(v, 'utf8');
  if (v === null) return head;
  if (typeof v === 'number') return head + (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? 4 : 8);
  if (v instanceof Date) return head + 8;
  const t = (v as { _bsontype?: string })._bsontype;
  if (t === 'ObjectId') return head + 12;
  if (t === 'Long' || t === 'Double') return head + 8;
  return head + BSON.calculateObjectSize({ v }) - 7; // anything else: ask the library ({v: …} costs 4 + 1 + 2)
}

/** BSON size of a key as an element name (UTF-8 bytes + NUL); ASCII keys, the usual case, without a byte count. */
function keySize(k: string): number {
  for (let i = 0; i < k.length; i++) if (codeAt(k, i) > 0x7f) return Buffer.byteLength(k, 'utf8') + 1;
  return k.length + 1;
}

/** BSON size of the value of one element (without type byte and name), for JSON-shaped values; -1 = ask the library. */
function valueSize(v: unknown, asIs: boolean): number {
  switch (typeof v) {
    case 'string':
      return 5 + Buffer.byteLength(v, 'utf8');
    case 'number':
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return 4;
      return asIs && Number.isInteger(v) ? -1 : 8; // as is: an integer beyond int32 must become a Long first
    case 'boolean':
      return 1;
    case 'object': {
      if (v === null) return 0;
      if (Array.isArray(v)) {
        let size = 5;
        for (let i = 0; i < v.length; i++) {
          const e = valueSize(v[i], asIs);
          if (e < 0) return -1;
          size += 1 + String(i).length + 1 + e;
        }
        return size;
      }
      if (v instanceof Date) return 8;
      const t = (v as { _bsontype?: string })._bsontype;
      if (t !== undefined) return t === 'Long' || t === 'Double' ? 8 : t === 'Int32' ? 4 : -1;
      if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return -1;
      return documentSize(v as Record<string, unknown>, asIs);
    }
    default:
      return -1; // undefined, bigint, functions, symbols: the library's rules
  }
}

/**
 * BSON size of a plain document of JSON-shaped values; -1 when it holds something else, or (asIs) when
 * it must be rewritten before it is stored (a key Ceilometer escaped, an integer beyond int32).
 */
function documentSize(d: Record<string, unknown>, asIs: boolean): number {
  let size = 5;
  const keys = Object.keys(d);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (asIs && (codeAt(k, 0) === 36 || k.includes('.'))) return -1;
    const e = valueSize(d[k], asIs);
    if (e < 0) return -1;
    size += 1 + keySize(k) + e;
  }
  return size;
}

/** A `meter` document's keys in order (one array, not one per sample). */
const DOC_KEYS: ReadonlyArray<keyof MeterDoc> = ['_id', ...METER_FIELDS];

/**
 * The exact BSON size of a `meter` document, the same figure as BSON.calculateObjectSize(doc) (the tests
 * compare them) at about a third of the cost: summed here for the JSON-shaped values a sample holds, the
 * library asked for anything else.
 */
export function meterDocSize(doc: MeterDoc, metadataSize = -1): number {
  let size = 5; // int32 length + trailing NUL
  for (let i = 0; i < DOC_KEYS.length; i++) {
    const key = DOC_KEYS[i]!;
    const v = doc[key];
    if (key === 'resource_metadata') {
      const m = metadataSize >= 0 ? metadataSize : documentSize(v as Record<string, unknown>, false);
      size += 2 + key.length + (m >= 0 ? m : BSON.calculateObjectSize(v as Record<string, unknown>));
    } else size += elementSize(key, v);
  }
  return size;
}

/** documentSize(metadata, true), worked out once for an interned metadata object (ceilometer/interned.ts). */
function asIsSize(metadata: Record<string, unknown>): number {
  const facts = internedFacts(metadata);
  if (facts === undefined) return documentSize(metadata, true);
  return (facts.asIsSize ??= documentSize(metadata, true));
}

/** Build the document and measure it once; the size feeds back-pressure accounting and the observers. */
export function prepareSample(sample: Sample, recordedAt = new Date()): PreparedSample {
  // One walk over the usual metadata: it is measured and found storable as it is (no copy) at once.
  const asIs = sample.bson?.resource_metadata ? -1 : asIsSize(sample.resource_metadata);
  const doc = meterDocument(sample, recordedAt, new ObjectId(), asIs >= 0 ? sample.resource_metadata : storedMetadata(sample));
  return { sample, doc, bsonSize: meterDocSize(doc, asIs) };
}

/**
 * The record the observers get for a stored sample. Built field by field: a spread of the sample costs
 * about 50 times more (samples from the parser differ in shape), which was a tenth of the hot path.
 * A field added to Sample must be added here too (the type checker insists on the required ones).
 */
export function storedSample(p: PreparedSample): StoredSample {
  const s = p.sample;
  const out: StoredSample = {
    counter_name: s.counter_name,
    counter_type: s.counter_type,
    counter_unit: s.counter_unit,
    counter_volume: s.counter_volume,
    user_id: s.user_id,
    project_id: s.project_id,
    resource_id: s.resource_id,
    timestamp: s.timestamp,
    resource_metadata: s.resource_metadata,
    source: s.source,
    message_id: s.message_id,
    message_signature: s.message_signature,
    bson_size: p.bsonSize,
    recorded_at: p.doc.recorded_at,
  };
  if (s.signature_invalid) out.signature_invalid = true;
  return out;
}
