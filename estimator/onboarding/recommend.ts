import type { AppServices } from '../../controller/app';
import { recommendSetup, type SetupRecommendation } from '../../profiler/recommend';
import type { Profiler } from '../../profiler/profiler';
import type { ProfilerConfig } from '../../profiler/config';
import { onboard } from '../../scaler/module';
import { onboardingFromEstimate } from '../../scaler/onboarding';

/**
 * What the onboarding hook recommends for the metering store:
 * - `setup`: the profiler's offline resource predictor (`profiler/recommend.ts` `recommendSetup`, paper
 *   §III-C) over the live VM profiles — shards × members and the VMs to put them on — called in
 *   process, so a Heat hook's ingest-only token gets its recommendation too;
 * - `scaler`: the estimate handed to the application's autoscaler for predictive scale-out
 *   (`scaler/module.ts` `onboard`, kept by the scaler in `scaler_onboarding` until its policy acts).
 */

export interface OnboardingRecommendation {
  /** One line: the recommended setup, or "no recommendation: predictor unavailable (why)". */
  summary: string;
  setup: SetupRecommendation | null;
  scaler: ScalerHandover;
}

export type ScalerHandover =
  | { registered: true; arrives_at: string; trigger_at: string; bytes_per_day: number; events_per_second: number }
  | { registered: false; reason: string };

export interface VolumeForecast {
  bytes_per_day: number;
  events_per_second: number;
}

/** One line for a predictor answer. */
export function summarizeSetup(rec: SetupRecommendation): string {
  if (!rec.feasible) {
    const more = rec.missing_vms !== null ? `; ${rec.missing_vms} more VM(s) like the median profiled one would make it feasible` : '';
    return `no feasible setup on the ${rec.candidates} profiled VM(s) (binding: ${rec.binding})${more}`;
  }
  const vms = [...new Set(rec.placement.map((p) => p.name || p.vm))];
  const q = rec.predicted.query_ms;
  return `${rec.shards} shard(s) × ${rec.replicas} member(s) on ${vms.join(', ')}; predicted query ${Number.isFinite(q) ? Math.round(q) : '∞'} ms (target ${rec.predicted.target_query_ms} ms, binding: ${rec.binding})`;
}

/** Hand the estimate to the application's scaler (predictive scale-out); says why when it cannot. */
export async function handToScaler(svc: AppServices, est: { bytes: { per_day: number }; events: { per_day: number } }, arrivesAt: Date, stackId: string): Promise<ScalerHandover> {
  try {
    const input = onboardingFromEstimate(est, { at: arrivesAt, stack_id: stackId.slice(0, 200) });
    const r = await onboard(svc, input);
    if (!r) return { registered: false, reason: 'the scaler module is not running in this controller' };
    return { registered: true, arrives_at: r.estimate.arrives_at.toISOString(), trigger_at: r.triggerAt.toISOString(), bytes_per_day: r.estimate.bytes_per_day, events_per_second: r.estimate.events_per_s };
  } catch (err) {
    return { registered: false, reason: (err as Error).message };
  }
}

/**
 * Ask the offline resource predictor over the live profiles (all profiled SaaS VMs: the store runs on
 * the provider's VMs, whoever onboards the stack). Any failure becomes a stated "no recommendation".
 */
export function predictSetup(profiler: Profiler | undefined, volume: VolumeForecast, profilerConfig: Pick<ProfilerConfig, 'targets' | 'caps'>): { setup: SetupRecommendation | null; summary: string } {
  if (!profiler) return { setup: null, summary: 'no recommendation: predictor unavailable (the profiler module is not running in this controller)' };
  try {
    const setup = recommendSetup(profiler, volume, profilerConfig.targets, profilerConfig.caps);
    return { setup, summary: summarizeSetup(setup) };
  } catch (err) {
    return { setup: null, summary: `no recommendation: predictor unavailable (${(err as Error).message})` };
  }
}
