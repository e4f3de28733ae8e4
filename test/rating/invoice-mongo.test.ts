import { describe, expect, it } from 'vitest';
import { MongoInvoiceRepository } from '../../billing/invoices/mongo-repository';
import { InvoiceImmutableError, StaleDraftError } from '../../billing/invoices/errors';
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


// The repository's rules on the invoices of invoice.test.ts (a flat charge beside a per-unit one).
describe('drafting is idempotent, issued invoices are immutable, corrections are applied once', () => {
  const book2 = parsePlan(`currency: EUR
plans:
  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "0.10"}, {meter: ip, model: flat, price: "3.00"}]}
`);
  const JAN = { period_start: '2026-01-01T00:00:00Z', period_end: '2026-02-01T00:00:00Z' };
  const FEB = { period_start: '2026-02-01T00:00:00Z', period_end: '2026-03-01T00:00:00Z' };
  const lines2 = rateUsage(book2, parseUsage([
    { project_id: 'a', meter: 'h', ...JAN, quantity: 100 }, // 10.00
    { project_id: 'a', meter: 'ip', ...JAN, quantity: 1 }, // 3.00
    { project_id: 'b', meter: 'h', ...JAN, quantity: 55 }, // 5.50
    { project_id: 'a', meter: 'h', ...FEB, quantity: 20 }, // 2.00
  ])).projects.flatMap((p) => p.lines);
  const jan = { period_start: d(JAN.period_start), period_end: d(JAN.period_end), currency: 'EUR', lines: lines2 };
  const feb = { ...jan, period_start: d(FEB.period_start), period_end: d(FEB.period_end) };
  const mar = { ...jan, period_start: d('2026-03-01T00:00:00Z'), period_end: d('2026-04-01T00:00:00Z') };
  /** A repository with collections of its own, so each test starts from no invoices. */
  const fresh = async (label: string) => {
    const repo = new MongoInvoiceRepository(db, 'INV', { invoices: `${label}_invoices`, pending: `${label}_accounts`, counters: `${label}_counters` });
    await repo.ensureIndexes();
    return repo;
  };

  it('refuses changes to an issued invoice and turns a correction into an adjustment on the next one', async () => {
    const repo = await fresh('immutable');
    const draft = await repo.draft({ ...jan, account: acct });
    const redraft = await repo.draft({ ...jan, account: acct }); // re-rating replaces the draft, same number
    expect(redraft.number).toBe(draft.number);
    expect(await repo.list()).toHaveLength(1);
    const issued = await repo.issue(draft.number, d('2026-02-02T00:00:00Z'));
    expect(issued).toMatchObject({ status: 'issued', total: '13.00', issued_at: '2026-02-02T00:00:00.000Z' });

    await expect(repo.draft({ ...jan, account: acct })).rejects.toThrow(/is issued and cannot change/);
    await expect(repo.issue(draft.number)).rejects.toBeInstanceOf(InvoiceImmutableError);
    expect(await repo.get(draft.number)).toEqual(issued);

    await repo.correct(draft.number, '-3.00', 'public IP was not used');
    expect((await repo.get(draft.number))!.total).toBe('13.00');
    const febInv = await repo.draft({ ...feb, account: acct });
    expect(febInv.entries).toEqual([{ kind: 'adjustment', description: 'public IP was not used', amount: '-3.00', corrects: draft.number }]);
    expect(febInv).toMatchObject({ subtotal: '2.00', adjustments: '-3.00', total: '0.00', credit_carried_forward: '1.00' });
    await repo.issue(febInv.number);
    // the adjustment was consumed; the left-over credit waits for the next invoice
    expect(await repo.pendingEntries(acct)).toEqual([{ kind: 'credit', description: `credit carried forward from ${febInv.number}`, amount: '1.00' }]);
  });

  it('refuses to issue a second open draft whose pending correction another invoice already consumed; redrafted, it issues without it', async () => {
    const repo = await fresh('stale');
    const janInv = await repo.draft({ ...jan, account: acct });
    await repo.issue(janInv.number);
    await repo.correct(janInv.number, '-3.00', 'refund');
    const febInv = await repo.draft({ ...feb, account: acct });
    const marInv = await repo.draft({ ...mar, account: acct });
    expect(febInv.adjustments).toBe('-3.00');
    expect(marInv.adjustments).toBe('-3.00'); // both drafts show it while it is pending
    await repo.issue(febInv.number);
    await expect(repo.issue(marInv.number)).rejects.toBeInstanceOf(StaleDraftError);
    // redrafted, March no longer carries the refund February already gave
    const mar2 = await repo.draft({ ...mar, account: acct });
    expect(mar2.number).toBe(marInv.number);
    expect(mar2.adjustments).toBe('0.00');
    expect((await repo.issue(mar2.number)).status).toBe('issued');
  });

  it('refuses a correction that is not a plain amount in the currency\'s minor units, before it is queued', async () => {
    const repo = await fresh('amounts');
    const inv = await repo.draft({ ...jan, account: acct });
    await expect(repo.correct(inv.number, '-1.00', 'x')).rejects.toThrow(/is a draft: redraft it instead/);
    await repo.issue(inv.number);
    for (const bad of ['1.005', 'NaN', 'Infinity', '1e3', 'ten']) await expect(repo.correct(inv.number, bad, 'x'), bad).rejects.toThrow(/correction amount/);
    expect(await repo.pendingEntries(acct)).toEqual([]);
    expect((await repo.correct(inv.number, '+2.5', 'fee')).amount).toBe('2.50');
    expect(await repo.pendingEntries(acct)).toEqual([{ kind: 'adjustment', description: 'fee', amount: '2.50', corrects: inv.number }]);
  });
});
