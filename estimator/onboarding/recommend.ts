import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../../controller/app';
import type { SetupRecommendation } from '../../profiler/recommend';
import { onboard } from '../../scaler/module';
import { onboardingFromEstimate } from '../../scaler/onboarding';

/**
 * What the onboarding hook recommends for the metering store:
 * - `setup`: the profiler's offline resource predictor (`profiler/recommend.ts` `recommendSetup`, paper
 *   §III-C) over the live VM profiles — shards × members and the VMs to put them on — asked through the
 *   controller's own `POST /v1/predictor/recommendation` with the caller's credentials, so the
 *   predictor sees only what the caller may see (a project-scoped token: its project's VMs);
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

/** Ask the running controller's predictor route; any failure becomes a stated "no recommendation". */
export async function askPredictor(app: FastifyInstance, caller: { authorization?: string; name: string }, volume: VolumeForecast): Promise<{ setup: SetupRecommendation | null; summary: string }> {
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/predictor/recommendation',
      headers: caller.authorization ? { authorization: caller.authorization } : {},
      payload: { bytes_per_day: volume.bytes_per_day, events_per_second: volume.events_per_second },
    });
    if (res.statusCode === 200) {
      const setup = res.json() as SetupRecommendation;
      return { setup, summary: summarizeSetup(setup) };
    }
    if (res.statusCode === 404) return { setup: null, summary: 'no recommendation: predictor unavailable (the profiler module is not running in this controller)' };
    let reason = res.statusCode === 403 || res.statusCode === 401 ? `token "${caller.name}" lacks role read` : `HTTP ${res.statusCode}`;
    try {
      const b = res.json() as { reason?: string; message?: string };
      reason = b.reason ?? b.message ?? reason;
    } catch {
      /* not JSON */
    }
    return { setup: null, summary: `no recommendation: predictor unavailable (${reason})` };
  } catch (err) {
    return { setup: null, summary: `no recommendation: predictor unavailable (${(err as Error).message})` };
  }
}
