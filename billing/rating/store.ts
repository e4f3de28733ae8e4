import { BILLING_READ } from '../../pipeline/store/read-options';
import type { Db, Document } from 'mongodb';
import { billableUsage } from '../mediation/billable';
import { readUsage } from '../mediation/runner';
import { periodStart, type Granularity } from '../mediation/periods';
import { newRunId, readCurrent, switchRun, type RunScope } from '../mediation/runs';
import type { PriceBook } from './plan';
import { rateUsage, type LineItem, type RatingResult } from './rate';
import { rollUpUsage } from './usage';

/**
 * A stored rated line: the line item under `run|line id` (the line id is `project|period|meter`),
 * with dates for range queries. Readers take only the runs the `rated` pointers name (runs.ts).
 */
export type RatedLineDoc = Omit<LineItem, 'id'> & { _id: string; line_id: string; run: string; period_start_at: Date; period_end_at: Date; rated_at: Date };

export interface RatedRange {
  /** The lines' period unit (the billing period) and zone. */
  granularity: Granularity;
  timezone: string;
  from: Date;
  to: Date;
  into?: string;
}

const ratedScope = (r: RatedRange): RunScope => ({ kind: r.into ?? 'rated', granularity: r.granularity, timezone: r.timezone });

/**
 * Store a rating so that re-rating replaces it atomically: the lines are written under a new run id,
 * the range's periods switch to the run in one single-document write per month, then every other
 * run's lines in the range are removed (a charge dropped from the plan, a project whose usage
 * vanished). Readers see the old rating or the new one, never a mix or a gap.
 */
export async function saveRating(
  db: Db,
  result: RatingResult,
  range: RatedRange,
  opts: { now?: Date; assertHeld?: () => Promise<void> } = {},
): Promise<{ upserted: number; removed: number; run: string }> {
  const coll = db.collection<RatedLineDoc>(range.into ?? 'rated');
  const run = newRunId();
  const now = opts.now ?? new Date();
  const lines = result.projects.flatMap((p) => p.lines);
  for (const l of lines) {
    if (new Date(l.period_start) < range.from || new Date(l.period_end) > range.to) throw new Error(`rated line ${l.id} lies outside the rated range ${range.from.toISOString()} → ${range.to.toISOString()}`);
  }
  if (lines.length > 0) {
    await coll.bulkWrite(
      lines.map(({ id, ...rest }) => ({
        replaceOne: {
          filter: { _id: `${run}|${id}` },
          replacement: { ...rest, line_id: id, run, period_start_at: new Date(rest.period_start), period_end_at: new Date(rest.period_end), rated_at: now },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }
  await opts.assertHeld?.();
  const before = await coll.countDocuments({ period_start_at: { $gte: range.from }, period_end_at: { $lte: range.to }, run: { $ne: run } });
  await switchRun(db, ratedScope(range), range.from, range.to, { run, started_at: now });
  const r = await coll.deleteMany({ period_start_at: { $gte: range.from }, period_end_at: { $lte: range.to }, run: { $ne: run } });
  return { upserted: lines.length, removed: Math.min(before, r.deletedCount), run };
}

/** The current rated lines of a range (optionally only some projects), read consistently. */
/** The index rated lines are read and replaced by (range of a billing period, run). */
export async function ensureRatedIndexes(db: Db, into = 'rated'): Promise<void> {
  await db.collection(into).createIndex({ period_start_at: 1, period_end_at: 1, run: 1 }, { name: 'rated_period_run' });
}

export async function readRatedLines(db: Db, range: RatedRange & { projects?: string[] }): Promise<LineItem[]> {
  return readCurrent(db, ratedScope(range), range.from, range.to, async (runs) => {
    const filter: Document = { run: { $in: runs }, period_start_at: { $gte: range.from }, period_end_at: { $lte: range.to } };
    if (range.projects) filter.project_id = { $in: range.projects };
    const docs = await db.collection<RatedLineDoc>(range.into ?? 'rated').find(filter, BILLING_READ).sort({ line_id: 1 }).toArray();
    return docs.map(({ _id: _i, line_id, run: _r, period_start_at: _s, period_end_at: _e, rated_at: _a, ...l }) => ({ id: line_id, ...l }) as LineItem);
  });
}

/**
 * Rate the mediated usage of a range from the `usage` collection (optionally rolled up to a coarser
 * billing period) and store the lines, replacing every earlier line of the range.
 */
export async function rateStoredUsage(
  db: Db,
  book: PriceBook,
  range: { granularity: Granularity; timezone: string; from: Date; to: Date; usage?: string; into?: string; billingPeriod?: Granularity; assertHeld?: () => Promise<void> },
): Promise<RatingResult> {
  if (range.billingPeriod) {
    for (const [k, d] of [['from', range.from], ['to', range.to]] as const) {
      if (periodStart(d, range.billingPeriod, range.timezone).getTime() !== d.getTime()) {
        // a partial billing period would replace the period's lines with part of its usage
        throw new Error(`${k}: ${d.toISOString()} is not the start of a ${range.billingPeriod} in ${range.timezone}; rate whole billing periods`);
      }
    }
  }
  const docs = await readUsage(db, { ...range, into: range.usage ?? 'usage' });
  const records = billableUsage(docs);
  const result = rateUsage(book, range.billingPeriod ? rollUpUsage(records, range.billingPeriod, range.timezone) : records);
  await saveRating(db, result, { granularity: range.billingPeriod ?? range.granularity, timezone: range.timezone, from: range.from, to: range.to, ...(range.into ? { into: range.into } : {}) }, range.assertHeld ? { assertHeld: range.assertHeld } : {});
  return result;
}
