import { describe, expect, it } from 'vitest';
import { mediationOptions } from '../../billing/mediation/options';
import { runMediationInNode } from '../../billing/mediation/runner';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';
import { rateStoredUsage, readRatedLines, saveRating, type RatedLineDoc } from '../../billing/rating/store';
import { parseUsage } from '../../billing/rating/usage';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';
import { series } from './samples';

const db = testDb(isolation(import.meta.url));

const JAN = { period_start: '2026-01-01T00:00:00Z', period_end: '2026-02-01T00:00:00Z' };
const plan = (charges: string) => parsePlan(`currency: EUR\nplans:\n  - id: std\n    projects: ["*"]\n    effective_from: 2026-01-01\n    charges:\n${charges}`);

describe('stored ratings (any MongoDB)', () => {
  it('re-rating a period replaces its lines: same ids, no duplicates, dropped charges removed', async () => {
    const usage = parseUsage([
      { project_id: 'p', meter: 'a', ...JAN, quantity: 10 },
      { project_id: 'p', meter: 'b', ...JAN, quantity: 3 },
    ]);
    const v1 = plan('      - {meter: a, model: per_unit, unit_price: "1"}\n      - {meter: b, model: flat, price: "2"}\n');
    const range = { granularity: 'month' as const, timezone: 'UTC', from: new Date(JAN.period_start), to: new Date(JAN.period_end) };
    await saveRating(db, rateUsage(v1, usage), range);
    await saveRating(db, rateUsage(v1, usage), range);
    const coll = db.collection<RatedLineDoc>('rated');
    expect((await coll.find().sort({ line_id: 1 }).toArray()).map((l) => [l.line_id, l.amount])).toEqual([
      ['p|2026-01-01T00:00:00.000Z|2026-02-01T00:00:00.000Z|a', '10.00'],
      ['p|2026-01-01T00:00:00.000Z|2026-02-01T00:00:00.000Z|b', '2.00'],
    ]);
    // the plan is corrected: a gets cheaper, b is no longer charged
    const v2 = plan('      - {meter: a, model: per_unit, unit_price: "0.5"}\n');
    const r = await saveRating(db, rateUsage(v2, usage), range);
    expect(r).toMatchObject({ upserted: 1, removed: 2 });
    expect(await readRatedLines(db, range)).toMatchObject([{ id: 'p|2026-01-01T00:00:00.000Z|2026-02-01T00:00:00.000Z|a', amount: '5.00' }]);
    expect((await coll.find().toArray()).map((l) => [l.meter, l.amount])).toEqual([['a', '5.00']]);
  });

  it('rates mediated usage read from the usage collection', async () => {
    const o = mediationOptions({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z') });
    await db.collection('meter').insertMany(series('2026-01-01T00:00:00Z', 600, 144, () => 2, { counter_name: 'volume.size', counter_type: 'gauge', counter_unit: 'GB' }).map((s) => ({ ...s })));
    await runMediationInNode(db, o);
    const book = plan('      - {meter: volume.size, model: per_unit, unit_price: "0.01"}\n');
    const r = await rateStoredUsage(db, book, { ...o, into: 'rated_usage' });
    // 2 GB held for 24 h = 48 GB-hours × 0.01
    expect(r.projects[0]!.lines[0]).toMatchObject({ quantity: '48', unit: 'GB-hours', amount: '0.48' });
    expect(await db.collection('rated_usage').countDocuments()).toBe(1);

    // the usage is corrected away (e.g. the samples belonged to another project): re-rating the
    // range removes the project's old line even though the new rating has no line for it
    await db.collection('meter').deleteMany({});
    await runMediationInNode(db, o);
    const empty = await rateStoredUsage(db, book, { ...o, into: 'rated_usage' });
    expect(empty.projects).toEqual([]);
    expect(await db.collection('rated_usage').countDocuments()).toBe(0);
  });

  it('refuses to rate part of a billing period (it would replace the period with part of its usage)', async () => {
    const book = plan('      - {meter: m, model: flat, price: "1"}\n');
    await expect(rateStoredUsage(db, book, { granularity: 'day', timezone: 'UTC', from: new Date('2026-01-05T00:00:00Z'), to: new Date('2026-01-06T00:00:00Z'), billingPeriod: 'month' }))
      .rejects.toThrow('from: 2026-01-05T00:00:00.000Z is not the start of a month in UTC; rate whole billing periods');
  });
});
