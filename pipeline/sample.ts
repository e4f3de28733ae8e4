import type { Double, Long } from 'mongodb';

/**
 * The one internal sample type every input form (HTTP `as_dict()` body, signed `counter_*` message,
 * oslo notifier envelope) normalises to. Field names follow Ceilometer's meter message / MongoDB
 * `meter` document, so a normalised sample maps 1:1 onto what Ceilometer's MongoDB driver stored.
 */
export const COUNTER_TYPES = ['gauge', 'delta', 'cumulative'] as const;
export type CounterType = (typeof COUNTER_TYPES)[number];

/**
 * The fields of a Ceilometer sample, in the order of Ceilometer's meter message and `meter` document.
 * The one list of them: the store layout (`store/layout.ts` METER_FIELDS, MeterDoc), the duplicate
 * check (`store/duplicates.ts`) and the signer (`ceilometer/sign.ts`) are built from it or checked
 * against it by the type checker, and it must name exactly the required fields of `Sample` below.
 */
export const SAMPLE_FIELDS = [
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
] as const;
export type SampleField = (typeof SAMPLE_FIELDS)[number];

/** The keys of T that are not optional. */
export type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
/** `true` when A and B are the same union of keys, else `false` (for compile-time checks of field lists). */
export type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export interface Sample {
  counter_name: string;
  counter_type: CounterType;
  counter_unit: string;
  counter_volume: number;
  user_id: string | null;
  project_id: string | null;
  resource_id: string;
  /** UTC instant of the measurement (Ceilometer's ISO timestamp, parsed). */
  timestamp: Date;
  /**
   * From the ingestion parsers this object is interned (ceilometer/interned.ts): shared by every sample with
   * the same metadata text and deeply frozen, so it must never be changed (a write throws).
   */
  resource_metadata: Record<string, unknown>;
  source: string;
  message_id: string;
  /** Hex HMAC-SHA256 as Ceilometer computes it; '' when the producer did not sign. */
  message_signature: string;
  /** Set when the signature was checked and failed but policy is accept-and-flag. */
  signature_invalid?: boolean;
  /**
   * The stored BSON forms where the wire literal says more than the JS value above (an integral float
   * literal such as `1.0` is a double, an integer beyond 2^53 keeps its digits): set by the parser only
   * when needed, and non-enumerable, so copies of the sample (observers, logs) do not carry it.
   */
  bson?: SampleBsonForms;
}

// SAMPLE_FIELDS names exactly Sample's required fields (a field added to one must be added to the other).
true satisfies SameKeys<SampleField, RequiredKeys<Sample>>;

/** See Sample.bson and pipeline/ceilometer/bson-numbers.ts. */
export interface SampleBsonForms {
  counter_volume?: Double | Long;
  resource_metadata?: Record<string, unknown>;
}

/** A sample as it landed in the store, with the size the store holds it in. */
export interface StoredSample extends Sample {
  /** BSON size in bytes of the stored `meter` document. */
  bson_size: number;
  recorded_at: Date;
}

/**
 * The interception hook (the paper's "intercept the sample stream"): the ingestion path hands every
 * batch it has durably stored to each registered observer. Observers must never query the store and
 * must be cheap (O(1) per sample); the profiler and the estimator's size tracker plug in here.
 */
export interface SampleObserver {
  readonly name: string;
  /**
   * `positions[i]`, when given, is where `samples[i]` came from on a transport with positions (the
   * Kafka topic, partition and offset of its message); undefined for HTTP/UDP/TCP input. Observers
   * that keep per-partition state (the profiler with `profiler.cluster.state: store`) use it.
   */
  onStored(samples: readonly StoredSample[], positions?: readonly (SamplePosition | undefined)[]): void;
}

/** The Kafka message a sample came from. */
export interface SamplePosition {
  topic: string;
  partition: number;
  /** Kafka offset (a decimal string, as KafkaJS gives it). */
  offset: string;
}
