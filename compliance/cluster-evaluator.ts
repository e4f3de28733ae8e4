import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { FencedOutError } from '../cluster/fence';
import { isDuplicateKeyError } from '../pipeline/store/bulk-errors';
import type { Leadership } from '../cluster/leadership';
import { Periodic } from '../lib/periodic';
import { AlertTracker, type AlertEvent, type AlertStore } from './alerts';
import type { LicenseRepository } from './repository';
import { evaluate, type Evaluation } from './rules';
import { loadFactsAt, newestSampleTime } from './store-reader';

/**
 * The licence rules of a cluster of controllers (docs/compliance.md "Many controllers"). With the
 * Kafka partitions spread over several controllers each sees a share of the instances, so a count
 * such as "at most K cores of licence L" cannot be evaluated on any one controller's stream. Instead
 * the holder of the `compliance` lease evaluates, every `cluster_evaluate_interval_ms`, from the
 * store's active window (the warm start's query: every instance, whichever controller stored it),
 * diffs against the alerts open in the store, and applies the difference fenced and once-only
 * (`AlertStore.applyClaimed`). It records T and its token in `compliance_live`, from which every
 * controller answers `/v1/compliance` at the same T.
 */

export const LIVE_COLLECTION = 'compliance_live';

/** The cluster's latest evaluation, as recorded by the evaluator that made it. */
export interface LiveState {
  _id: 'live';
  /** T of the evaluation (newest stored sample, clamped to now + max_future_skew_s). */
  at: Date;
  /** When it was made (the evaluator's clock) and by which controller, with which token. */
  evaluated_at: Date;
  controller: string;
  token: number | null;
  violations: number;
  unverified: number;
  instances: number;
  evaluations: number;
}

export interface ClusterEvaluatorOptions {
  db: Db;
  leadership: Leadership;
  controller: string;
  licenses: LicenseRepository;
  alerts: AlertStore;
  activeWindowS: number;
  maxFutureSkewS: number;
  intervalMs: number;
  log: Logger;
  /** Events this evaluator stored (raised or resolved once across the cluster): counters, webhook, log. */
  onEvents: (events: AlertEvent[]) => void;
}

export class ClusterEvaluator {
  readonly stats = { evaluations: 0, fenced_out: 0, failures: 0, events_stored: 0, events_already_applied: 0 };
  /** The evaluations' timer (lib/periodic.ts): never two at once, close() waits for the one under way. */
  private readonly periodic: Periodic<Evaluation | undefined>;
  last?: Evaluation;
  /** Alerts open after this controller's last evaluation as the leader (for /metrics). */
  openAlerts = 0;
  constructor(private readonly opts: ClusterEvaluatorOptions) {
    // run() reports its own failures (stats, log) and never throws
    this.periodic = new Periodic(() => this.run(), opts.intervalMs, (err) => opts.log.warn({ err: err.message }, 'compliance: cluster evaluation failed'));
  }

  /** The first evaluation at once, then one every intervalMs. */
  start(): void {
    this.periodic.start({ immediately: true });
  }

  /** One evaluation when this controller leads the role (else nothing); evaluations never overlap; nothing after close. */
  evaluateNow(): Promise<Evaluation | undefined> {
    return this.periodic.runNow();
  }

  private async run(): Promise<Evaluation | undefined> {
    const { db, leadership, log } = this.opts;
    if (!leadership.leading()) return undefined;
    try {
      const newest = await newestSampleTime(db);
      if (!newest) return undefined;
      const at = new Date(Math.min(newest.getTime(), Date.now() + this.opts.maxFutureSkewS * 1000));
      const licenses = (await this.opts.licenses.latest()).map((r) => r.license);
      const index = await loadFactsAt(db, at, this.opts.activeWindowS);
      const e = evaluate(licenses, index, { at, activeWindowS: this.opts.activeWindowS });
      // the diff is taken against the store's open alerts, not this process's memory: a new leader
      // continues exactly where the last one stopped, and nothing a former leader opened is raised again
      const tracker = new AlertTracker();
      tracker.restore(await this.opts.alerts.open());
      const events = tracker.update(e, licenses);
      const fence = await leadership.fence(); // refused (FencedOutError) once a newer leader has acted
      const stored: AlertEvent[] = [];
      for (const ev of events) {
        if (await this.opts.alerts.applyClaimed(ev, fence)) stored.push(ev);
        else this.stats.events_already_applied++;
      }
      this.stats.evaluations++;
      this.stats.events_stored += stored.length;
      const live: Omit<LiveState, '_id'> = { at, evaluated_at: new Date(), controller: this.opts.controller, token: fence?.token ?? null, violations: e.violations.length, unverified: e.unverified.length, instances: e.instances.length, evaluations: this.stats.evaluations };
      // a T older than the recorded one (a stale leader) never replaces it
      await db.collection<LiveState>(LIVE_COLLECTION).updateOne({ _id: 'live', ...(fence ? { $or: [{ token: null }, { token: { $lte: fence.token } }] } : {}) }, { $set: live }, { upsert: true }).catch((err: unknown) => {
        if (!isDuplicateKeyError(err)) throw err; // a newer token holds the document
      });
      this.last = e;
      this.openAlerts = tracker.openAlerts.length;
      if (stored.length) this.opts.onEvents(stored);
      return e;
    } catch (err) {
      if (err instanceof FencedOutError) {
        this.stats.fenced_out++;
        log.warn({ err: err.message }, 'compliance: evaluation not applied, a newer evaluator has acted');
      } else {
        this.stats.failures++;
        log.warn({ err: (err as Error).message }, 'compliance: cluster evaluation failed; retried at the next interval');
      }
      return undefined;
    }
  }

  /** Stop the timer and wait for the evaluation under way. */
  close(): Promise<unknown> {
    return this.periodic.close();
  }
}

/** The cluster's latest evaluation record (undefined before the first one). */
export async function readLive(db: Db): Promise<LiveState | undefined> {
  return (await db.collection<LiveState>(LIVE_COLLECTION).findOne({ _id: 'live' })) ?? undefined;
}
