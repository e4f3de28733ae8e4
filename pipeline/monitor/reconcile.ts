import type { Db, Document } from 'mongodb';
import { COLLECTIONS } from '../store/layout';
import { HOUR_KEY_FORMAT, HOUR_MS, hourKey, hourStart } from './hours';
import { LEDGER_COLLECTION, type LedgerDoc } from './ledger';

/**
 * Reconciliation: per resource and UTC hour, what ingestion stored by its own account (the ledger)
 * against what the `meter` collection holds now. A difference is
 *  - `missing`: the ledger counted more than the store holds (samples acknowledged and later lost:
 *    a rollback after a failover with a weak write concern, a deletion, an expired TTL);
 *  - `unaccounted`: the store holds more than the ledger counted (written around the pipeline, before
 *    the ledger existed, or by a process that died before its ledger flush).
 * The comparison is pure (`compareCounts`); reading the two sides is `reconcile`.
 */

export interface HourCount {
  resource_id: string;
  project_id: string | null;
  /** hour key, `YYYY-MM-DDTHH:00:00Z` */
  hour: string;
  n: number;
}

export interface Difference {
  resource_id: string;
  project_id: string | null;
  hour: string;
  accepted: number;
  stored: number;
  /** stored − accepted */
  difference: number;
  kind: 'missing' | 'unaccounted';
}

export interface Comparison {
  accepted_total: number;
  stored_total: number;
  /** (resource, hour) pairs seen on either side. */
  pairs: number;
  resources: number;
  /** Pairs that differ (all of them, listed or not). */
  differing: number;
  missing_samples: number;
  unaccounted_samples: number;
  differences: Difference[];
  /** More differences than listed. */
  truncated: boolean;
}

/** The biggest losses first, then by hour and resource. */
const byLoss = (a: Difference, b: Difference): number => a.difference - b.difference || a.hour.localeCompare(b.hour) || a.resource_id.localeCompare(b.resource_id);

export function compareCounts(accepted: readonly HourCount[], stored: readonly HourCount[], maxRows = Infinity): Comparison {
  const key = (c: HourCount) => `${c.resource_id}\u0000${c.hour}`;
  const pairs = new Map<string, { resource_id: string; project_id: string | null; hour: string; accepted: number; stored: number }>();
  const take = (c: HourCount, side: 'accepted' | 'stored') => {
    const k = key(c);
    const p = pairs.get(k) ?? { resource_id: c.resource_id, project_id: c.project_id, hour: c.hour, accepted: 0, stored: 0 };
    p[side] += c.n;
    p.project_id ??= c.project_id;
    pairs.set(k, p);
  };
  let acceptedTotal = 0;
  let storedTotal = 0;
  for (const c of accepted) (take(c, 'accepted'), (acceptedTotal += c.n));
  for (const c of stored) (take(c, 'stored'), (storedTotal += c.n));
  const all: Difference[] = [];
  let missing = 0;
  let unaccounted = 0;
  const resources = new Set<string>();
  for (const p of pairs.values()) {
    resources.add(p.resource_id);
    const d = p.stored - p.accepted;
    if (d === 0) continue;
    if (d < 0) missing -= d;
    else unaccounted += d;
    all.push({ ...p, difference: d, kind: d < 0 ? 'missing' : 'unaccounted' });
  }
  all.sort(byLoss);
  return {
    accepted_total: acceptedTotal,
    stored_total: storedTotal,
    pairs: pairs.size,
    resources: resources.size,
    differing: all.length,
    missing_samples: missing,
    unaccounted_samples: unaccounted,
    differences: all.slice(0, maxRows),
    truncated: all.length > maxRows,
  };
}

export interface ReconcileWindow {
  /** First hour compared (inclusive). */
  from: Date;
  /** End of the last hour compared (exclusive). */
  to: Date;
}

export class ReconcileInputError extends Error {}

/**
 * The window to compare: `from` rounded down and `to` rounded up to whole UTC hours (default: the
 * last 24 hours up to the end of the current one), at most `maxHours` long, never starting before
 * what the store's TTL may already have expired.
 */
export function reconcileWindow(opts: { from?: Date; to?: Date; maxHours: number; ttlSeconds?: number; now?: number }): ReconcileWindow & { notes: string[] } {
  const now = opts.now ?? Date.now();
  const notes: string[] = [];
  const to = opts.to ? new Date(Math.ceil(+opts.to / HOUR_MS) * HOUR_MS) : new Date(+hourStart(now) + HOUR_MS);
  let from = opts.from ? hourStart(opts.from) : new Date(+to - 24 * HOUR_MS);
  if (Number.isNaN(+from) || Number.isNaN(+to)) throw new ReconcileInputError('from/to: expected ISO-8601 date-times');
  if (+from >= +to) throw new ReconcileInputError(`from (${from.toISOString()}) must be before to (${to.toISOString()})`);
  const hours = (+to - +from) / HOUR_MS;
  if (hours > opts.maxHours) throw new ReconcileInputError(`window of ${hours} hours exceeds monitor.reconcileMaxHours (${opts.maxHours}); compare a shorter window`);
  if (opts.ttlSeconds && opts.ttlSeconds > 0) {
    const expiry = new Date(Math.ceil((now - opts.ttlSeconds * 1000) / HOUR_MS) * HOUR_MS);
    if (+from < +expiry) {
      notes.push(`store.ttlSeconds expires samples older than ${opts.ttlSeconds} s: the window starts at ${expiry.toISOString()} instead of ${from.toISOString()}`);
      from = expiry;
    }
    if (+from >= +to) throw new ReconcileInputError(`the window ends before ${from.toISOString()}: store.ttlSeconds (${opts.ttlSeconds} s) has expired every sample in it`);
  }
  return { from, to, notes };
}

/** Stored samples per resource and hour in the window (one aggregation the store runs; `$dateToString` keys hours in UTC). */
export async function storedCounts(db: Db, w: ReconcileWindow, project?: string): Promise<HourCount[]> {
  const match: Document = { timestamp: { $gte: w.from, $lt: w.to } };
  if (project !== undefined) match.project_id = project;
  const rows = await db
    .collection(COLLECTIONS.meter)
    .aggregate<{ _id: { r: string; h: string }; n: number; p: string | null }>(
      [{ $match: match }, { $group: { _id: { r: '$resource_id', h: { $dateToString: { format: HOUR_KEY_FORMAT, date: '$timestamp' } } }, n: { $sum: 1 }, p: { $first: '$project_id' } } }],
      { allowDiskUse: true },
    )
    .toArray();
  return rows.map((r) => ({ resource_id: r._id.r, project_id: r.p ?? null, hour: r._id.h, n: r.n }));
}

/** The ledger's counts per resource and hour in the window. */
export async function acceptedCounts(db: Db, w: ReconcileWindow, project?: string): Promise<HourCount[]> {
  const filter: Document = { hour: { $gte: w.from, $lt: w.to } };
  if (project !== undefined) filter.project_id = project;
  const docs = await db.collection<LedgerDoc>(LEDGER_COLLECTION).find(filter, { projection: { resource_id: 1, project_id: 1, hour: 1, accepted: 1 } }).toArray();
  return docs.map((d) => ({ resource_id: d.resource_id, project_id: d.project_id ?? null, hour: hourKey(d.hour), n: d.accepted }));
}

export interface Reconciliation extends Comparison {
  from: string;
  to: string;
  hours: number;
  project: string | null;
  ok: boolean;
  notes: string[];
  checked_at: string;
}

/**
 * Compare the window `chunkHours` at a time (a (resource, hour) pair lies in one chunk, so chunks
 * compare on their own and a month never sits in memory at once; a caller can show progress).
 */
export async function reconcile(
  db: Db,
  opts: { window: ReconcileWindow & { notes?: string[] }; project?: string; maxRows: number; chunkHours?: number; onProgress?: (doneHours: number, totalHours: number) => void },
): Promise<Reconciliation> {
  const { window: w, maxRows } = opts;
  const totalHours = (+w.to - +w.from) / HOUR_MS;
  const chunk = Math.max(1, opts.chunkHours ?? 24);
  const sum: Comparison = { accepted_total: 0, stored_total: 0, pairs: 0, resources: 0, differing: 0, missing_samples: 0, unaccounted_samples: 0, differences: [], truncated: false };
  const resources = new Set<string>();
  for (let h = 0; h < totalHours; h += chunk) {
    const part = { from: new Date(+w.from + h * HOUR_MS), to: new Date(+w.from + Math.min(totalHours, h + chunk) * HOUR_MS) };
    const [a, s] = await Promise.all([acceptedCounts(db, part, opts.project), storedCounts(db, part, opts.project)]);
    const c = compareCounts(a, s, maxRows);
    for (const x of [...a, ...s]) resources.add(x.resource_id);
    sum.accepted_total += c.accepted_total;
    sum.stored_total += c.stored_total;
    sum.pairs += c.pairs;
    sum.differing += c.differing;
    sum.missing_samples += c.missing_samples;
    sum.unaccounted_samples += c.unaccounted_samples;
    sum.truncated ||= c.truncated;
    sum.differences = [...sum.differences, ...c.differences].sort(byLoss);
    if (sum.differences.length > maxRows) {
      sum.differences = sum.differences.slice(0, maxRows);
      sum.truncated = true;
    }
    opts.onProgress?.(Math.min(totalHours, h + chunk), totalHours);
  }
  sum.resources = resources.size;
  return {
    from: w.from.toISOString(),
    to: w.to.toISOString(),
    hours: totalHours,
    project: opts.project ?? null,
    ...sum,
    ok: sum.differing === 0,
    notes: opts.window.notes ?? [],
    checked_at: new Date().toISOString(),
  };
}
