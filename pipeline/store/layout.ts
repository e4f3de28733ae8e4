import { BSON, ObjectId } from 'mongodb';
import type { Sample } from '../sample';
import { escapeMetadataKeys } from '../ceilometer/keys';

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
export const METER_FIELDS = [
  'source',
  'counter_name',
  'counter_type',
  'counter_unit',
  'counter_volume',
  'user_id',
  'project_id',
  'resource_id',
  'timestamp',
  'resource_metadata',
  'message_id',
  'message_signature',
  'recorded_at',
] as const;

export interface MeterDoc {
  _id: ObjectId;
  source: string;
  counter_name: string;
  counter_type: string;
  counter_unit: string;
  counter_volume: number;
  user_id: string | null;
  project_id: string | null;
  resource_id: string;
  timestamp: Date;
  resource_metadata: Record<string, unknown>;
  message_id: string;
  message_signature: string;
  recorded_at: Date;
}

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

/** The `meter` document for a sample: Ceilometer's fields only, metadata keys escaped (`improve_keys`). */
export function meterDocument(sample: Sample, recordedAt: Date, id: ObjectId = new ObjectId()): MeterDoc {
  return {
    _id: id,
    source: sample.source,
    counter_name: sample.counter_name,
    counter_type: sample.counter_type,
    counter_unit: sample.counter_unit,
    counter_volume: sample.counter_volume,
    user_id: sample.user_id,
    project_id: sample.project_id,
    resource_id: sample.resource_id,
    timestamp: sample.timestamp,
    resource_metadata: escapeMetadataKeys(sample.resource_metadata),
    message_id: sample.message_id,
    message_signature: sample.message_signature,
    recorded_at: recordedAt,
  };
}

/** Build the document and measure it once; the size feeds back-pressure accounting and the observers. */
export function prepareSample(sample: Sample, recordedAt = new Date()): PreparedSample {
  const doc = meterDocument(sample, recordedAt);
  return { sample, doc, bsonSize: BSON.calculateObjectSize(doc) };
}
