import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MongoInvoiceRepository } from '../../billing/invoices/mongo-repository';
import { processInvoice, processMediation, processRating } from '../../billing/jobs/processors';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';
import { series } from './samples';

// An invoice drafted over several billing periods (POST /v1/jobs/invoice with a range of days) must
// take late usage like a one-period invoice does: redrafted while a draft, corrected once issued.
const iso = isolation(import.meta.url);
const db = testDb(iso);
const dir = mkdtempSync(path.join(tmpdir(), 'multi-period-'));
const planFile = path.join(dir, 'plan.yaml');
writeFileSync(planFile, 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: instance, model: per_unit, unit_price: "0.05"}]}\n');
const ctx = { progress: async () => undefined };
const gauge = { counter_name: 'instance', counter_type: 'gauge' as const, counter_unit: 'instance', project_id: 'p1' };
const range = (from: string, to: string) => ({ from, to, granularity: 'day' as const, timezone: 'UTC' });
const DAYS = range('2026-02-01T00:00:00.000Z', '2026-02-03T00:00:00.000Z');
const DAY2 = range('2026-02-02T00:00:00.000Z', '2026-02-03T00:00:00.000Z');
const account = { kind: 'project' as const, project_id: 'p1' };

/** What arrives late for day 2: mediate and rate that day only, as the late-data check does. */
async function lateForDay2(resource: string, hours: number) {
  await db.collection('meter').insertMany(series('2026-02-02T00:00:00Z', 600, hours * 6, () => 1, { ...gauge, resource_id: resource }).map((s) => ({ ...s })));
  await processMediation({ db }, { ...DAY2, carrySeconds: 3600, inNode: true }, ctx);
  return processRating({ db }, { ...DAY2, planFile }, ctx);
}

const dayTotal = (r: Awaited<ReturnType<typeof processRating>>) => r.projects.find((p) => p.project_id === 'p1')!.total;

describe('an invoice over several billing periods takes late usage', () => {
  it('a draft over two days is redrafted by the re-rating of one of them; once issued, late usage becomes a correction, once', async () => {
    // one instance all of both days: 48 instance-hours × 0.05 = 2.40
    await db.collection('meter').insertMany(series('2026-02-01T00:00:00Z', 600, 288, () => 1, { ...gauge, resource_id: 'vm-a' }).map((s) => ({ ...s })));
    await processMediation({ db }, { ...DAYS, carrySeconds: 3600, inNode: true }, ctx);
    await processRating({ db }, { ...DAYS, planFile }, ctx);
    const drafted = await processInvoice({ db }, { ...DAYS, account, currency: 'EUR' }, ctx);
    expect(drafted).toMatchObject({ status: 'draft', total: '2.40' });

    // a second instance ran 12 hours of day 2, reported late: the draft is day 1 (1.20) + day 2 as re-rated
    const rerated = await lateForDay2('vm-b', 12);
    const day2 = Number(dayTotal(rerated));
    expect(day2).toBeGreaterThan(1.2);
    const redraftedTotal = (1.2 + day2).toFixed(2);
    expect(rerated.invoices).toEqual([expect.objectContaining({ number: drafted.number, action: 'redrafted', total: redraftedTotal })]);
    const repo = new MongoInvoiceRepository(db);
    expect((await repo.get(drafted.number!))?.total).toBe(redraftedTotal);

    // issued, then a third instance's 6 late hours of day 2: the issued invoice stays, +0.30 is queued once
    await processInvoice({ db }, { ...DAYS, account, currency: 'EUR', issue: true }, ctx);
    expect((await repo.get(drafted.number!))?.status).toBe('issued');
    const corrected = await lateForDay2('vm-c', 6);
    const correction = (Number(dayTotal(corrected)) - day2).toFixed(2);
    expect(Number(correction)).toBeGreaterThan(0);
    expect(corrected.invoices).toEqual([expect.objectContaining({ number: drafted.number, action: 'corrected' })]);
    const pending = await repo.pendingEntries(account);
    expect(pending.map((e) => e.amount)).toEqual([correction]);
    expect((await repo.get(drafted.number!))?.total).toBe(redraftedTotal);

    // re-rating the same day again finds nothing new to correct
    const again = await processRating({ db }, { ...DAY2, planFile }, ctx);
    expect(again.invoices).toBeUndefined();
    expect((await repo.pendingEntries(account)).map((e) => e.amount)).toEqual([correction]);
  });
});
