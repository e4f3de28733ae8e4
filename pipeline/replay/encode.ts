/**
 * Wire forms of replayed samples, as Ceilometer's publishers write them:
 *  - `as_dict`: the http:// publisher's item (`Sample.as_dict()`, master field names). Ceilometer
 *    does not sign these; the HTTP route authenticates the caller by token instead.
 *  - `counter`: the signed counter_* meter message (`meter_message_from_counter`), which the
 *    kafka:// publisher sends one per Kafka message and which an HTTP body may also carry.
 *  - `notifier`: the oslo envelope (`notifier://?driver=kafka`) listing signed meter messages.
 */
import { signSample } from '../ceilometer/sign';
import { formatCeilometerTimestamp } from '../ceilometer/timestamp';
import { encodeSamples } from '../kafka/producer';
import type { Sample } from '../sample';

export type HttpForm = 'as_dict' | 'counter';
export type KafkaForm = 'counter' | 'notifier';
export const HTTP_FORMS: readonly HttpForm[] = ['as_dict', 'counter'];
export const KAFKA_FORMS: readonly KafkaForm[] = ['counter', 'notifier'];

/** Ceilometer's default `[publisher] telemetry_secret`. */
export const CEILOMETER_DEFAULT_SECRET = 'change this for valid signing';

/** `Sample.as_dict()` of the sample (master: with user_name, project_name, monotonic_time). */
export function asDict(s: Sample): Record<string, unknown> {
  return {
    name: s.counter_name,
    type: s.counter_type,
    unit: s.counter_unit,
    volume: s.counter_volume,
    user_id: s.user_id,
    user_name: null,
    project_id: s.project_id,
    project_name: null,
    resource_id: s.resource_id,
    timestamp: formatCeilometerTimestamp(s.timestamp),
    resource_metadata: s.resource_metadata,
    source: s.source,
    id: s.message_id,
    monotonic_time: null,
  };
}

/** One HTTP body: a JSON list of items in `form` (counter items signed with `secret`). */
export function httpBody(samples: readonly Sample[], form: HttpForm, secret: string): string {
  const items = form === 'as_dict' ? samples.map(asDict) : samples.map((s) => signSample(s, secret));
  return JSON.stringify(items);
}

/** Kafka message values: one signed message each (`counter`), or envelopes of up to `perEnvelope` (`notifier`). */
export function kafkaValues(samples: readonly Sample[], form: KafkaForm, secret: string, perEnvelope = 50): string[] {
  return encodeSamples(samples, form === 'notifier' ? 'oslo' : 'counter', secret, perEnvelope, 'metering-replay');
}

/** The topic a form goes to: the notifier driver publishes to `<topic>.sample`. */
export function kafkaTopicFor(topic: string, form: KafkaForm): string {
  return form === 'notifier' ? `${topic}.sample` : topic;
}
