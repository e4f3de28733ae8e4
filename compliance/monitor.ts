import type { Logger } from 'pino';
import type { SampleObserver, StoredSample } from '../pipeline/sample';
import { AlertTracker, type Alert, type AlertEvent } from './alerts';
import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { evaluate, type Evaluation } from './rules';

export interface MonitorOptions {
  activeWindowS: number;
  /** Least time between evaluations (0 = evaluate after every batch). */
  evaluateIntervalMs: number;
  maxFutureSkewS: number;
  maxResources: number;
  log?: Logger;
  /** Called with each evaluation's alert events, in order (persist, webhook, counters). */
  onEvents?: (events: AlertEvent[], e: Evaluation) => void;
  /** Wall clock (tests). */
  now?: () => number;
}

export interface MonitorStats {
  samples_observed: number;
  samples_future: number;
  sub_resources: number;
  over_capacity: number;
  evaluations: number;
  pruned: number;
}

/**
 * The licence rules on the live sample stream: a sample observer on the ingestion hook. Each stored
 * batch is folded into a FactIndex (O(1) per sample, no store access); at most every
 * `evaluateIntervalMs` the rules are evaluated at T = the newest sample time seen, and the alert
 * tracker turns the difference from the previous evaluation into opened / resolved alerts.
 */
export class ComplianceMonitor implements SampleObserver {
  readonly name = 'compliance';
  readonly index: FactIndex;
  readonly tracker = new AlertTracker();
  readonly stats: MonitorStats = { samples_observed: 0, samples_future: 0, sub_resources: 0, over_capacity: 0, evaluations: 0, pruned: 0 };
  private licenses: readonly License[] = [];
  private newest = -Infinity;
  private timer?: NodeJS.Timeout;
  private lastRun = 0;
  private dirty = false;
  private closed = false;
  private held = false;
  private last?: Evaluation;
  private readonly now: () => number;

  constructor(private readonly opts: MonitorOptions) {
    this.index = new FactIndex(opts.maxResources);
    this.now = opts.now ?? Date.now;
  }

  get licenseList(): readonly License[] {
    return this.licenses;
  }

  /** The latest evaluation (undefined before the first sample). */
  get lastEvaluation(): Evaluation | undefined {
    return this.last;
  }

  get openAlerts(): Alert[] {
    return this.tracker.openAlerts;
  }

  setLicenses(licenses: readonly License[]): void {
    this.licenses = licenses;
    this.dirty = true;
    this.schedule();
  }

  onStored(samples: readonly StoredSample[]): void {
    this.fold(samples);
  }

  /** Fold samples in (the ingestion hook, or a warm start from the store). */
  fold(samples: Iterable<FactSample>): void {
    const limit = this.now() + this.opts.maxFutureSkewS * 1000;
    for (const s of samples) {
      const t = s.timestamp.getTime();
      if (!Number.isFinite(t) || t > limit) {
        this.stats.samples_future++;
        continue;
      }
      this.stats.samples_observed++;
      if (this.index.observe(s) && t > this.newest) this.newest = t;
    }
    this.stats.sub_resources = this.index.stats.sub_resources;
    this.stats.over_capacity = this.index.stats.over_capacity;
    this.dirty = true;
    this.schedule();
  }

  /** Move T forward to `t` if it is later (facts folded straight into `index`, e.g. by the warm start). */
  advance(t: Date): void {
    if (t.getTime() > this.newest && t.getTime() <= this.now() + this.opts.maxFutureSkewS * 1000) this.newest = t.getTime();
  }

  /** Hold evaluations (samples are still folded in) until `release`: e.g. while the warm start reads the store. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.held || this.timer || !this.dirty) return;
    const wait = Math.max(0, this.lastRun + this.opts.evaluateIntervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.evaluateNow();
      } catch (err) {
        this.opts.log?.warn({ err: (err as Error).message }, 'compliance evaluation failed');
      }
    }, wait);
    this.timer.unref?.();
  }

  /** Evaluate now at T = the newest sample seen (nothing before the first sample). */
  evaluateNow(): Evaluation | undefined {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.dirty = false;
    this.lastRun = this.now();
    if (!Number.isFinite(this.newest)) return undefined;
    const at = new Date(this.newest);
    const e = evaluate(this.licenses, this.index, { at, activeWindowS: this.opts.activeWindowS });
    this.stats.evaluations++;
    this.stats.pruned += this.index.prune(new Date(at.getTime() - this.opts.activeWindowS * 1000));
    this.last = e;
    const events = this.tracker.update(e, this.licenses);
    if (events.length) this.opts.onEvents?.(events, e);
    return e;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
