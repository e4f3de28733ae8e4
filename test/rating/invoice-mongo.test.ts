import { describe, expect, it } from 'vitest';
import { MongoInvoiceRepository } from '../../billing/invoices/mongo-repository';
import { InvoiceImmutableError, StaleDraftError } from '../../billing/invoices/repository';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';
import { parseUsage } from '../../billing/rating/usage';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';

const db = testDb(isolation(import.meta.url));

const d = (s: string) => new Date(s);
const book = parsePlan('currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "0.10"}]}\n');
const month = (m: number) => ({ period_start: `2026-0${m}-01T00:00:00Z`, period_end: `2026-0${m + 1}-01T00:00:00Z` });
const lines = rateUsage(book, parseUsage([
  { project_id: 'a', meter: 'h', ...month(1), quantity: 100 },
  { project_id: 'a', meter: 'h', ...month(2), quantity: 40 },
])).projects.flatMap((p) => p.lines);
const period = (m: number) => ({ period_start: d(month(m).period_start), period_end: d(month(m).period_end), currency: 'EUR', lines });
const acct = { kind: 'project' as const, project_id: 'a' };

describe('invoices stored in MongoDB (any MongoDB)', () => {
  it('keeps issued invoices immutable and carries corrections to the next invoice', async () => {
    const repo = new MongoInvoiceRepository(db);
    await repo.ensureIndexes();
    const jan = await repo.draft({ ...period(1), account: acct });
    expect((await repo.draft({ ...period(1), account: acct })).number).toBe(jan.number);
    expect(jan.total).toBe('10.00');
    await repo.issue(jan.number, d('2026-02-03T00:00:00Z'));
    await expect(repo.issue(jan.number)).rejects.toBeInstanceOf(InvoiceImmutableError);
    await expect(repo.draft({ ...period(1), account: acct })).rejects.toThrow(/is issued and cannot change/);

    await repo.correct(jan.number, '-6.50', 'overbilled hours');
    expect((await repo.get(jan.number))!).toMatchObject({ status: 'issued', total: '10.00' });
    const feb = await repo.draft({ ...period(2), account: acct });
    expect(feb.number).not.toBe(jan.number);
    // 4.00 of usage − 6.50 correction: nothing due, 2.50 carried forward
    expect(feb).toMatchObject({ subtotal: '4.00', adjustments: '-6.50', total: '0.00', credit_carried_forward: '2.50' });
    await repo.issue(feb.number);
    expect(await repo.pendingEntries(acct)).toEqual([{ kind: 'credit', description: `credit carried forward from ${feb.number}`, amount: '2.50' }]);
  });
});

describe('corrections on MongoDB are applied once', () => {
  it('refuses to issue an open draft whose pending correction another issued invoice consumed', async () => {
    const repo = new MongoInvoiceRepository(db, 'INV', { invoices: 'inv_stale', pending: 'inv_stale_pending', counters: 'inv_stale_counters' });
    await repo.ensureIndexes();
    const jan = await repo.draft({ ...period(1), account: acct });
    await repo.issue(jan.number);
    await repo.correct(jan.number, '-3.00', 'refund');
    const feb = await repo.draft({ ...period(2), account: acct });
    const mar = await repo.draft({ ...period(2), period_start: d('2026-03-01T00:00:00Z'), period_end: d('2026-04-01T00:00:00Z'), account: acct });
    expect(mar.adjustments).toBe('-3.00');
    await repo.issue(feb.number);
    await expect(repo.issue(mar.number)).rejects.toBeInstanceOf(StaleDraftError);
    expect((await repo.get(mar.number))!.status).toBe('draft');
  });
});

