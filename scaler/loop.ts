import type { Logger } from 'pino';
import type { Observation, OnboardingEstimate } from './metrics';
import type { PolicyConfig } from './config';
import { ScalerPolicy, type Decision } from './policy';

/** Who started a round: the loop's own interval, or an operator through the API (the audit record). */
export type RoundTrigger = { by: 'loop' } | { by: 'api'; requestedBy: string; remote?: string };

export interface LoopDeps {
  policy: PolicyConfig;
  /**
   * Runs a whole round (collect → policy → record → act) exclusively: the loop's interval and an
   * operator's live actuation share one lock, so two actions never overlap on the cluster.
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** One round of observations (e.g. collectSignals + the profiler's VM load, merged). */
  collect: () => Promise<Observation[]>;
  /**
   * Runs at the start of every round this controller may run, before the policy decides (e.g. recall
   * the actions a former scaler leader took, so their cooldowns hold). A failure skips the round.
   */
  prepare?: () => Promise<void>;
  /** Onboarding estimates that arrived since the last round (e.g. from the Heat hook). */
  onboarding?: () => Promise<OnboardingEstimate[]>;
  /**
   * Store every evaluation (the decision history); actions are also passed to `act`. Returns false
   * when the decision was not stored (the cluster fence refused it): the round then leaves the
   * policy's state as it was before its evaluation, as does a failing store (a throw).
   */
  record?: (d: Decision, trigger: RoundTrigger) => Promise<boolean | void>;
  /** Carry out an action (the Actuator); absent = dry run. */
  act?: (d: Decision, trigger: RoundTrigger) => Promise<void>;
  /**
   * Whether this controller may run the loop's own rounds now (the scaler lease, cluster/); absent =
   * always. Rounds an operator asks for through the API are checked by the caller.
   */
  leading?: () => boolean;
  log: Logger;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The autoscaler's control loop: collect → policy → record → act, every `intervalMs`, for `rounds`
 * rounds (or until `stop()` is called). While an action runs the loop waits for it (no overlap), and
 * observations collected during it are still fed to the policy in the next round. A failing round
 * (collector or actuator error) is logged and the loop continues.
 */
export class ScalerLoop {
  readonly policy: ScalerPolicy;
  private stopped = false;
  readonly decisions: Decision[] = [];

  constructor(private readonly d: LoopDeps) {
    this.policy = new ScalerPolicy(d.policy);
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * One round; returns the decision of this round. The policy is the loop's own (its windows,
   * cooldowns and hysteresis), whoever triggers the round; with `exclusive` rounds never overlap.
   */
  tick(trigger: RoundTrigger = { by: 'loop' }): Promise<Decision | undefined> {
    return this.d.exclusive ? this.d.exclusive(() => this.round(trigger)) : this.round(trigger);
  }

  private async round(trigger: RoundTrigger): Promise<Decision | undefined> {
    // another controller leads the scaler: its loop collects, decides and acts; this one waits
    if (trigger.by === 'loop' && this.d.leading && !this.d.leading()) return undefined;
    const now = (this.d.now ?? (() => new Date()))();
    let obs: Observation[];
    try {
      await this.d.prepare?.();
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'scaler: round not prepared; skipping this round');
      return undefined;
    }
    try {
      obs = await this.d.collect();
      for (const e of (await this.d.onboarding?.()) ?? []) this.policy.onboard(e);
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'scaler: collection failed; skipping this round');
      return undefined;
    }
    for (const o of [...obs].sort((a, b) => a.t.getTime() - b.t.getTime())) this.policy.observe(o);
    // the evaluation's effects on the policy (cooldowns, counted shards, replica members, the
    // onboarding estimate it used) are committed only with a stored decision; the round's
    // observations stay (they are facts about the cluster, whoever decides on them)
    const before = this.d.record ? this.policy.snapshot() : undefined;
    const decision = this.policy.evaluate(now);
    this.decisions.push(decision);
    const stored = this.d.record
      ? await this.d.record(decision, trigger).then(
          (r) => r !== false,
          (err: Error) => {
            this.d.log.warn({ err: err.message }, 'scaler: could not store decision');
            return false;
          },
        )
      : true;
    if (!stored && before) {
      this.policy.restore(before);
      return decision; // not stored: not carried out either
    }
    if (decision.action !== 'none') {
      this.d.log.info({ action: decision.action, reason: decision.reason, shard: decision.shard }, 'scaler decision');
      if (this.d.act) {
        try {
          await this.d.act(decision, trigger);
        } catch (err) {
          this.d.log.error({ err: (err as Error).message, action: decision.action }, 'scaler: action failed');
        }
      }
    }
    return decision;
  }

  async run(intervalMs: number, rounds = Infinity): Promise<Decision[]> {
    const sleep = this.d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let i = 0; i < rounds && !this.stopped; i++) {
      await this.tick();
      if (i + 1 < rounds && !this.stopped) await sleep(intervalMs);
    }
    return this.decisions;
  }
}
