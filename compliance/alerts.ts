import type { Collection, Db, Filter } from 'mongodb';
import { fencedWrite, type FenceToken } from '../cluster/fence';
import { COMPLIANCE_ALERTS_COLLECTION } from '../cluster/fenced-documents';
import { isDuplicateKeyError } from '../pipeline/store/bulk-errors';
import type { License } from './license';
import { violationKey, type Evaluation, type Violation, type ViolationKind } from './rules';

/**
 * Alerts: a violation raises one alert when it is first seen and resolves it when an evaluation no
 * longer finds it. `AlertTracker` is the pure diff between evaluations; `AlertStore` keeps the
 * alerts in the store (`compliance_alerts`) so a restart neither forgets open alerts nor raises
 * them again.
 */

export interface Alert {
  /** `<kind>|<licence>|<resource>@<T first seen>`: stable, so storing it twice is a no-op. */
  id: string;
  key: string;
  state: 'open' | 'resolved';
  kind: ViolationKind;
  license_id: string | null;
  resource_id: string | null;
  /** The project the finding belongs to (instance's project, or the licence's `match.project_id`); for scoped readers. */
  project_id: string | null;
  assigned: unknown;
  actual: unknown;
  /** T of the evaluation that first found it. */
  opened_at: string;
  /** T of the first evaluation that no longer found it. */
  resolved_at: string | null;
  /** The samples the finding rested on when it was first seen. */
  samples: Array<{ id: string; timestamp: string }>;
}

export interface AlertEvent {
  event: 'opened' | 'resolved';
  alert: Alert;
}

export class AlertTracker {
  private readonly open = new Map<string, Alert>();

  /** Start from alerts that were open before (e.g. loaded from the store after a restart). */
  restore(alerts: Iterable<Alert>): void {
    for (const a of alerts) if (a.state === 'open') this.open.set(a.key, a);
  }

  get openAlerts(): Alert[] {
    return [...this.open.values()];
  }

  /** The alert events one evaluation causes: new violations open, vanished ones resolve. */
  update(e: Evaluation, licenses: readonly License[]): AlertEvent[] {
    const at = e.at.toISOString();
    const projectOfResource = new Map(e.instances.map((i) => [i.resource_id, i.project_id]));
    const projectOfLicense = new Map(licenses.map((l) => [l.id, l.match.project_id ?? null]));
    const seen = new Set<string>();
    const events: AlertEvent[] = [];
    for (const v of e.violations) {
      const key = violationKey(v);
      seen.add(key);
      const existing = this.open.get(key);
      if (existing) {
        existing.actual = v.actual; // the alert stays one alert while its figure moves
        continue;
      }
      const alert = toAlert(v, key, at, v.resource_id !== null ? (projectOfResource.get(v.resource_id) ?? null) : v.license_id !== null ? (projectOfLicense.get(v.license_id) ?? null) : null);
      this.open.set(key, alert);
      events.push({ event: 'opened', alert: { ...alert } });
    }
    for (const [key, a] of this.open) {
      if (seen.has(key)) continue;
      this.open.delete(key);
      a.state = 'resolved';
      a.resolved_at = at;
      events.push({ event: 'resolved', alert: { ...a } });
    }
    return events;
  }
}

function toAlert(v: Violation, key: string, at: string, project: string | null): Alert {
  return {
    id: `${key}@${at}`,
    key,
    state: 'open',
    kind: v.kind,
    license_id: v.license_id,
    resource_id: v.resource_id,
    project_id: project,
    assigned: v.assigned,
    actual: v.actual,
    opened_at: at,
    resolved_at: null,
    samples: v.evidence.map((s) => ({ id: s.id, timestamp: s.timestamp.toISOString() })),
  };
}

export const ALERTS_COLLECTION = COMPLIANCE_ALERTS_COLLECTION;
/**
 * Set to the violation key while an alert is open and removed when it resolves; a unique sparse
 * index on it (`alert_one_open_per_key`) lets the store hold one open alert per violation key,
 * whoever writes and whatever T each evaluated at (the alert's own id carries T, so `_id` alone would
 * let two evaluators store two alerts for one violation). The open alert is its own claim: one insert
 * decides, so no timing (a paused former leader, racing evaluators) can leave two open.
 */
export const OPEN_KEY_FIELD = 'open_key';

type AlertDoc = Omit<Alert, 'id'> & { _id: string; recorded_at: Date; open_key?: string };

export class AlertStore {
  private readonly coll: Collection<AlertDoc>;

  constructor(db: Db) {
    this.coll = db.collection<AlertDoc>(ALERTS_COLLECTION);
  }

  /**
   * Indexes, and `open_key` on the open alerts stored before it existed, oldest first. Of two open
   * alerts of one key (which only an earlier version could store) the later gets no `open_key`: it is
   * left as it was, and the unique index covers every alert opened from now on. A resolved alert that
   * still carries `open_key` (resolved by an earlier version during a rolling upgrade) loses it, or it
   * would keep its key from ever alerting again.
   */
  async ensureIndexes(): Promise<void> {
    await this.coll.createIndex({ state: 1, opened_at: -1 }, { name: 'alert_state_opened' });
    await this.coll.createIndex({ opened_at: -1 }, { name: 'alert_opened' });
    await this.coll.createIndex({ [OPEN_KEY_FIELD]: 1 }, { name: 'alert_one_open_per_key', unique: true, sparse: true });
    await this.freeKeys({});
    const unkeyed = await this.coll.find({ state: 'open', [OPEN_KEY_FIELD]: { $exists: false } }, { projection: { key: 1 } }).sort({ opened_at: 1, _id: 1 }).toArray();
    for (const a of unkeyed) {
      await this.coll.updateOne({ _id: a._id, state: 'open', [OPEN_KEY_FIELD]: { $exists: false } }, { $set: { [OPEN_KEY_FIELD]: a.key } }).catch((err: unknown) => {
        if (!isDuplicateKeyError(err)) throw err;
      });
    }
  }

  /** Apply one event: an opened alert is inserted (again, or while its key has an open alert = no-op), a resolved one is marked resolved once. */
  async apply(ev: AlertEvent, now = new Date()): Promise<void> {
    await this.write(ev, undefined, now);
  }

  /**
   * Apply one event as the cluster's compliance evaluator (docs/compliance.md "Many controllers"):
   * an alert opens only if no alert of its violation key is open (the unique `open_key`), and a resolve
   * only applies to an alert last written with this fencing token or a lower one. Returns whether the
   * event changed the store (false: another evaluator had already applied it, or holds the alert).
   */
  async applyClaimed(ev: AlertEvent, fence: FenceToken | undefined, now = new Date()): Promise<boolean> {
    return this.write(ev, fence, now);
  }

  private async write(ev: AlertEvent, fence: FenceToken | undefined, now: Date): Promise<boolean> {
    const { id, ...rest } = ev.alert;
    const key = ev.alert.key;
    if (ev.event === 'opened') {
      const fenceSet = fence ? { fence: { [fence.role]: fence.token } } : {};
      for (let attempt = 0; ; attempt++) {
        try {
          await this.coll.insertOne({ _id: id, ...rest, state: 'open', resolved_at: null, recorded_at: now, [OPEN_KEY_FIELD]: key, ...fenceSet } as AlertDoc);
          return true;
        } catch (err) {
          if (!isDuplicateKeyError(err)) throw err;
          // this alert is stored already, or another alert of its key is open: raised once; unless the key
          // is held by an alert resolved without releasing it (an earlier version's resolve): freed, tried again
          if (attempt > 0 || (await this.freeKeys({ [OPEN_KEY_FIELD]: key })) === 0) return false;
        }
      }
    }
    // the violation's open alert, whichever evaluation opened it: its key's (or, stored before keys
    // existed, this id's); a resolve whose own open was refused still ends the open alert of its key
    const base = { state: 'open' as const, $and: [{ $or: [{ _id: id }, { [OPEN_KEY_FIELD]: key }] }] };
    const w = fence ? fencedWrite(base, fence) : { filter: base, set: {} };
    const r = await this.coll.updateMany(w.filter as Filter<AlertDoc>, { $set: { state: 'resolved', resolved_at: ev.alert.resolved_at, actual: ev.alert.actual, ...w.set }, $unset: { [OPEN_KEY_FIELD]: '' } });
    return r.modifiedCount > 0; // false: resolved already, or a newer evaluator wrote it last
  }

  /** Remove `open_key` from alerts (matching `filter`) that are not open any more; how many were freed. */
  private async freeKeys(filter: Record<string, unknown>): Promise<number> {
    const r = await this.coll.updateMany({ state: { $ne: 'open' }, [OPEN_KEY_FIELD]: { $exists: true }, ...filter } as Filter<AlertDoc>, { $unset: { [OPEN_KEY_FIELD]: '' } });
    return r.modifiedCount;
  }

  /** How many alerts are open (of `project` when given), from the store. */
  async countOpen(project?: string): Promise<number> {
    return this.coll.countDocuments(project === undefined ? { state: 'open' } : { state: 'open', project_id: project });
  }

  async open(): Promise<Alert[]> {
    return (await this.coll.find({ state: 'open' }).toArray()).map(fromDoc);
  }

  /** Newest first; `state` narrows, `project` keeps only that project's alerts. */
  async list(opts: { state?: 'open' | 'resolved'; project?: string; limit?: number } = {}): Promise<Alert[]> {
    const filter: Record<string, unknown> = {};
    if (opts.state) filter.state = opts.state;
    if (opts.project !== undefined) filter.project_id = opts.project;
    return (await this.coll.find(filter).sort({ opened_at: -1, _id: 1 }).limit(opts.limit ?? 100).toArray()).map(fromDoc);
  }
}

function fromDoc(d: AlertDoc): Alert {
  const { _id, recorded_at: _r, fence: _f, open_key: _k, ...rest } = d as AlertDoc & { fence?: unknown };
  return { id: _id, ...rest };
}
