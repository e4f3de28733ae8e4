import { z } from 'zod';
import type { Collection, Db } from 'mongodb';
import type { OnboardingEstimate } from './metrics';

/**
 * Predictive signals: onboarding estimates (the estimator's bytes/day and events/s for a new Heat
 * stack) waiting to be handed to the control loop's policy. Registered through
 * `POST /v1/scaler/onboarding` or, in-process, `ScalerService.onboard` (the Heat onboarding hook).
 * Kept in `scaler_onboarding` so a restart does not forget an announced stack.
 */

const isoDate = z
  .union([z.string(), z.date()])
  .refine((s) => (s instanceof Date ? !Number.isNaN(s.getTime()) : /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s))), { message: 'expected an ISO 8601 date-time, e.g. 2026-01-01T00:00:00Z' })
  .transform((s) => new Date(s));
const nonNeg = z.number().finite().min(0);

/** What the onboarding hook hands over. */
export const onboardingInput = z.strictObject({
  /** When the stack's data starts arriving. */
  at: isoDate,
  /** Estimated stored bytes per day. */
  bytes_per_day: nonNeg,
  /** Estimated samples per second at the collector. */
  events_per_second: nonNeg,
  /** Heat stack id or name, used in decision reasons. */
  stack_id: z.string().min(1).max(200).optional(),
  /** When the estimate became known (default: now). */
  known_at: isoDate.optional(),
});
export type OnboardingInput = z.input<typeof onboardingInput>;

/** A bad onboarding estimate; the message names the field. */
export class OnboardingInputError extends Error {}

/** Validate an onboarding input and turn it into the policy's estimate (errors name the field). */
export function toEstimate(input: unknown, now = new Date()): OnboardingEstimate {
  const r = onboardingInput.safeParse(input);
  if (!r.success) throw new OnboardingInputError(r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : `${i.path.join('.') || 'estimate'}: ${i.message}`)).join('; '));
  const e: OnboardingEstimate = { t: r.data.known_at ?? now, arrives_at: r.data.at, bytes_per_day: r.data.bytes_per_day, events_per_s: r.data.events_per_second };
  if (r.data.stack_id) e.label = r.data.stack_id;
  return e;
}

/** The estimator's result shape (`{bytes: {per_day}, events: {per_day}}`) → onboarding input. */
export function onboardingFromEstimate(est: { bytes: { per_day: number }; events: { per_day: number } }, opts: { at: Date; stack_id?: string; known_at?: Date }): OnboardingInput {
  return {
    at: opts.at.toISOString(),
    bytes_per_day: est.bytes.per_day,
    events_per_second: est.events.per_day / 86_400,
    ...(opts.stack_id ? { stack_id: opts.stack_id } : {}),
    ...(opts.known_at ? { known_at: opts.known_at.toISOString() } : {}),
  };
}

interface OnboardingDoc {
  t: Date;
  arrives_at: Date;
  bytes_per_day: number;
  events_per_s: number;
  label?: string;
  status: 'pending' | 'handed';
  handed_at?: Date;
}

export const ONBOARDING_COLLECTION = 'scaler_onboarding';

export class PredictiveSignals {
  private readonly coll?: Collection<OnboardingDoc>;
  private queue: OnboardingEstimate[] = [];

  constructor(db?: Db) {
    if (db) this.coll = db.collection<OnboardingDoc>(ONBOARDING_COLLECTION);
  }

  /** Reload estimates registered before a restart and not yet handed to the policy. */
  async load(): Promise<number> {
    if (!this.coll) return 0;
    const docs = await this.coll.find({ status: 'pending' }).sort({ t: 1 }).toArray();
    this.queue = docs.map((d) => ({ t: d.t, arrives_at: d.arrives_at, bytes_per_day: d.bytes_per_day, events_per_s: d.events_per_s, ...(d.label ? { label: d.label } : {}) }));
    return this.queue.length;
  }

  async register(e: OnboardingEstimate): Promise<void> {
    await this.coll?.insertOne({ t: e.t, arrives_at: e.arrives_at, bytes_per_day: e.bytes_per_day, events_per_s: e.events_per_s, ...(e.label ? { label: e.label } : {}), status: 'pending' });
    this.queue.push(e);
  }

  /** Estimates not yet handed to the loop (copies; for previews). */
  pending(): OnboardingEstimate[] {
    return this.queue.map((e) => ({ ...e }));
  }

  /**
   * Hand every pending estimate to the caller (the loop's policy) and mark them handed. With a store,
   * the pending estimates are read from it: with several controllers (cluster/) an estimate posted to
   * any of them reaches the loop of the one that leads the scaler.
   */
  async drain(now = new Date()): Promise<OnboardingEstimate[]> {
    if (!this.coll) {
      const out = this.queue;
      this.queue = [];
      return out;
    }
    const docs = await this.coll.find({ status: 'pending' }).sort({ t: 1 }).toArray();
    if (docs.length) await this.coll.updateMany({ _id: { $in: docs.map((d) => d._id) }, status: 'pending' }, { $set: { status: 'handed', handed_at: now } });
    this.queue = [];
    return docs.map((d) => ({ t: d.t, arrives_at: d.arrives_at, bytes_per_day: d.bytes_per_day, events_per_s: d.events_per_s, ...(d.label ? { label: d.label } : {}) }));
  }
}
