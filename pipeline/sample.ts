import type { Double, Long } from 'mongodb';

/**
 * The one internal sample type every input form (HTTP `as_dict()` body, signed `counter_*` message,
 * oslo notifier envelope) normalises to. Field names follow Ceilometer's meter message / MongoDB
 * `meter` document, so a normalised sample maps 1:1 onto what Ceilometer's MongoDB driver stored.
 */
export const COUNTER_TYPES = ['gauge', 'delta', 'cumulative'] as const;
export type CounterType = (typeof COUNTER_TYPES)[number];

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
  onStored(samples: readonly StoredSample[]): void;
}
