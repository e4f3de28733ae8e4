/**
 * Producing signed Ceilometer traffic: the master-shaped counter_* meter message
 * (`meter_message_from_counter`) for a Sample, signed with `telemetry_secret`. Used by the trace
 * replayer, the demo and `metering sample sign`.
 */
import type { Sample, SampleField } from '../sample';
import { computeSignature } from './signature';
import { formatCeilometerTimestamp } from './timestamp';

/**
 * The fields of the master-shaped (unsigned) meter message: every sample field (SAMPLE_FIELDS, the
 * type checker holds the messages below to it) but the signature, plus the three master added.
 */
export type MeterMessageField = Exclude<SampleField, 'message_signature'> | 'user_name' | 'project_name' | 'monotonic_time';

/**
 * The master-shaped meter message for `sample`, with message_signature. Serialise it with
 * JSON.stringify: the signature was computed over the values as JSON.stringify writes them (an
 * integral volume is an int to Python, a fractional one a float), so Ceilometer verifies it.
 */
export function signSample(sample: Sample, secret: string): Record<string, unknown> {
  if (!Number.isFinite(sample.counter_volume)) {
    throw new RangeError(`counter_volume: expected a finite number, got ${sample.counter_volume}`);
  }
  if (Number.isNaN(sample.timestamp.getTime())) throw new RangeError('timestamp: invalid Date');
  const fields: Record<MeterMessageField, unknown> = {
    source: sample.source,
    counter_name: sample.counter_name,
    counter_type: sample.counter_type,
    counter_unit: sample.counter_unit,
    counter_volume: sample.counter_volume,
    user_id: sample.user_id,
    user_name: null,
    project_id: sample.project_id,
    project_name: null,
    resource_id: sample.resource_id,
    timestamp: formatCeilometerTimestamp(sample.timestamp),
    resource_metadata: sample.resource_metadata,
    message_id: sample.message_id,
    monotonic_time: null,
  };
  const msg: Record<string, unknown> = fields;
  msg.message_signature = computeSignature(msg, secret);
  return msg;
}

/**
 * Re-sign an existing message in place-preserving order (any existing message_signature is
 * replaced). Values may come from the tagged JSON reader so float literals keep their form.
 */
export function signMessage(message: Record<string, unknown>, secret: string): Record<string, unknown> {
  const { message_signature: _old, ...rest } = message;
  return { ...rest, message_signature: computeSignature(rest, secret) };
}

/** Map an HTTP `Sample.as_dict()` item onto the master meter-message field names (unsigned). */
export function asDictToMeterMessage(item: Record<string, unknown>): Record<string, unknown> {
  const message: Record<MeterMessageField, unknown> = {
    source: item.source ?? 'openstack',
    counter_name: item.name,
    counter_type: item.type,
    counter_unit: item.unit,
    counter_volume: item.volume,
    user_id: item.user_id ?? null,
    user_name: item.user_name ?? null,
    project_id: item.project_id ?? null,
    project_name: item.project_name ?? null,
    resource_id: item.resource_id,
    timestamp: item.timestamp,
    resource_metadata: item.resource_metadata ?? {},
    message_id: item.id,
    monotonic_time: item.monotonic_time ?? null,
  };
  return message;
}
