import type { Db } from 'mongodb';
import { billableUsage } from '../mediation/billable';
import { readUsage } from '../mediation/runner';
import { periodStart, type Granularity } from '../mediation/periods';
import type { PriceBook } from './plan';
import { rateUsage, type LineItem, type RatingResult } from './rate';
import { rollUpUsage } from './usage';

/** A stored rated line: the line item under its deterministic id, with dates for range queries. */
export type RatedLineDoc = Omit<LineItem, 'id'> & { _id: string; period_start_at: Date; period_end_at: Date; rated_at: Date };

/**
 * Store a rating so that re-rating replaces it: every line is upserted under its id
 * (project|period|meter), and lines of the same projects and periods that the new rating no longer
 * produces (a charge removed from the plan, usage corrected to nothing) are deleted.
 */
export async function saveRating(
  db: Db,
  result: RatingResult,
  into = 'rated',
  now = new Date(),
  /** The whole range that was re-rated: any older line inside it that the new rating lacks is removed (a project whose usage vanished). */
  range?: { from: Date; to: Date },
): Promise<{ upserted: number; removed: number }> {
  const coll = db.collection<RatedLineDoc>(into);
  const lines = result.projects.flatMap((p) => p.lines);
  const scopes = new Map<string, { project_id: string; period_start: string; period_end: string; ids: string[] }>();
  for (const l of lines) {
    const k = `${l.project_id}|${l.period_start}|${l.period_end}`;
    const s = scopes.get(k) ?? { project_id: l.project_id, period_start: l.period_start, period_end: l.period_end, ids: [] };
    s.ids.push(l.id);
    scopes.set(k, s);
  }
  let removed = 0;
  if (lines.length > 0) {
    await coll.bulkWrite(
      lines.map(({ id, ...rest }) => ({
        replaceOne: {
          filter: { _id: id },
          replacement: { ...rest, period_start_at: new Date(rest.period_start), period_end_at: new Date(rest.period_end), rated_at: now },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }
  if (range) {
    const r = await coll.deleteMany({ period_start_at: { $gte: range.from }, period_end_at: { $lte: range.to }, _id: { $nin: lines.map((l) => l.id) } });
    removed += r.deletedCount;
  } else {
    for (const s of scopes.values()) {
      const r = await coll.deleteMany({ project_id: s.project_id, period_start: s.period_start, period_end: s.period_end, _id: { $nin: s.ids } });
      removed += r.deletedCount;
    }
  }
  return { upserted: lines.length, removed };
}

/**
 * Rate the mediated usage of a range from the `usage` collection (optionally rolled up to a coarser
 * billing period) and store the lines, replacing every earlier line of the range.
 */
export async function rateStoredUsage(
  db: Db,
  book: PriceBook,
  range: { granularity: Granularity; timezone: string; from: Date; to: Date; usage?: string; into?: string; billingPeriod?: Granularity },
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
  await saveRating(db, result, range.into ?? 'rated', new Date(), { from: range.from, to: range.to });
  return result;
}
