import type { IngestConfig } from '../config';
import type { Sample } from '../sample';
import { plausibilityProblems } from '../ceilometer/plausibility';
import { storableProblems } from '../ceilometer/storable';

/**
 * The last check every transport's samples pass before the ingestor takes them (pure): can the store
 * hold the sample as sent (storable.ts) and is it plausible (plausibility.ts). Refused samples carry
 * their position in the submission and every reason, joined with "; ".
 */

export type ScreenConfig = Pick<IngestConfig, 'maxMetadataDepth' | 'plausibility'>;

export interface ScreenResult {
  /** Samples that pass, with their position in the submission. */
  kept: Array<{ sample: Sample; index: number }>;
  refused: Array<{ sample: Sample; index: number; reason: string }>;
}

/**
 * `now` is the arrival the timestamp rules count from; `acceptedAt` (by sample) overrides it for a sample
 * accepted earlier (a record of the durable ingest log, acknowledged to its sender when it was appended):
 * such a sample is judged as it arrived, not by when a store outage let it be drained.
 */
export function screenSamples(samples: readonly Sample[], cfg: ScreenConfig, now: Date = new Date(), acceptedAt?: ReadonlyArray<Date | undefined>): ScreenResult {
  const out: ScreenResult = { kept: [], refused: [] };
  const limits = { maxDepth: cfg.maxMetadataDepth };
  for (let index = 0; index < samples.length; index++) {
    const sample = samples[index]!;
    const stored = storableProblems(sample, limits);
    const plausible = plausibilityProblems(sample, cfg.plausibility, acceptedAt?.[index] ?? now);
    if (stored.length || plausible.length) out.refused.push({ sample, index, reason: [...stored, ...plausible].join('; ') });
    else out.kept.push({ sample, index });
  }
  return out;
}
