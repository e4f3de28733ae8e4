import { z } from 'zod';
import { loadCalibration, type Calibration } from './calibration';
import { predictorCapsConfig, predictorTargetsConfig, type PredictorCaps, type PredictorTargets } from './config';
import { profilesOf } from './offline';
import { predict, type DataVolume, type Recommendation } from './predictor';
import type { Profiler, VmState } from './profiler';

/**
 * The offline resource predictor over the profiler's LIVE state: the VMs tracked right now (their
 * moving-average CPU and memory and their sizes) are the candidate hosts. Used by the controller route
 * `POST /v1/predictor/recommendation`, the demo, and the Heat onboarding hook (estimator/onboarding/):
 *
 *   const rec = recommendSetup(profiler, { bytes_per_day, events_per_second }, { query_ms: 5000 });
 */

export interface SetupRecommendation extends Recommendation {
  /** Targets and caps actually used (defaults filled in). */
  targets: PredictorTargets;
  caps: PredictorCaps;
  /** How many live VMs were candidates, and those left out because their CPU/memory profile or size is not known yet. */
  candidates: number;
  skipped: string[];
  /** Where the model constants come from, and whether they were measured (false = provisional). */
  calibration: { source: string; measured: boolean };
}

export interface RecommendOptions {
  /** Model constants (default: profiler/calibration.json). */
  calibration?: Calibration;
  /** Only these VMs are candidates (e.g. a project scope). */
  accept?: (vm: VmState) => boolean;
}

/** Partial targets as a caller may give them; missing keys take the `profiler.targets` defaults. */
export type TargetsInput = z.input<typeof predictorTargetsConfig>;
export type CapsInput = z.input<typeof predictorCapsConfig>;

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RangeError(`${what}.${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

/**
 * Recommend the metering store setup (shards × members, the named live VMs each member goes on, the
 * extra CPU and memory each hosting VM gets, the predicted query time, and why) for an expected data
 * volume. Throws RangeError naming the field for invalid volume, targets or caps.
 */
export function recommendSetup(
  profiler: Profiler,
  volume: DataVolume,
  targets?: TargetsInput | PredictorTargets,
  caps?: CapsInput | PredictorCaps,
  options: RecommendOptions = {},
): SetupRecommendation {
  const t = parseWith(predictorTargetsConfig, targets, 'targets');
  const c = parseWith(predictorCapsConfig, caps, 'caps');
  const calibration = options.calibration ?? loadCalibration();
  const states = options.accept ? [...profiler.states()].filter(options.accept) : profiler.states();
  const { profiles, skipped } = profilesOf(states);
  const rec = predict({ profiles, volume, targets: t, caps: c, calibration });
  if (skipped.length) rec.explanation.push(`Not considered (no CPU/memory profile or size yet): ${skipped.slice(0, 20).join(', ')}${skipped.length > 20 ? ` and ${skipped.length - 20} more` : ''}.`);
  if (calibration.measured_at === null) rec.explanation.push('The model constants are provisional (profiler/calibration.json, measured_at: null); see docs/profiler.md "Calibration".');
  return {
    ...rec,
    targets: t,
    caps: c,
    candidates: profiles.length,
    skipped,
    calibration: { source: calibration.source, measured: calibration.measured_at !== null },
  };
}
