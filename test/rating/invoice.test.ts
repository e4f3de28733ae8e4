import { describe, expect, it } from 'vitest';
import { buildInvoice } from '../../billing/invoices/invoice';
import { dueInvoicePeriods } from '../../billing/invoices/schedule';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';
import { parseUsage } from '../../billing/rating/usage';

const d = (s: string) => new Date(s);
const book = parsePlan(`currency: EUR
plans:
  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "0.10"}, {meter: ip, model: flat, price: "3.00"}]}
`);
const JAN = { period_start: '2026-01-01T00:00:00Z', period_end: '2026-02-01T00:00:00Z' };
const FEB = { period_start: '2026-02-01T00:00:00Z', period_end: '2026-03-01T00:00:00Z' };
const lines = rateUsage(book, parseUsage([
  { project_id: 'a', meter: 'h', ...JAN, quantity: 100 }, // 10.00
  { project_id: 'a', meter: 'ip', ...JAN, quantity: 1 }, // 3.00
  { project_id: 'b', meter: 'h', ...JAN, quantity: 55 }, // 5.50
  { project_id: 'a', meter: 'h', ...FEB, quantity: 20 }, // 2.00
])).projects.flatMap((p) => p.lines);
const jan = { period_start: d(JAN.period_start), period_end: d(JAN.period_end), currency: 'EUR', lines };

describe('invoice totals', () => {
  it('takes only the account\'s lines within the period and applies credits and debits', () => {
    const inv = buildInvoice({ ...jan, number: 'I-1', account: { kind: 'project', project_id: 'a' }, entries: [
      { kind: 'credit', description: 'SLA breach', amount: '1.50' },
      { kind: 'debit', description: 'support hours', amount: '4.00' },
    ] });
    expect(inv.lines.map((l) => l.amount)).toEqual(['10.00', '3.00']);
    expect(inv).toMatchObject({ subtotal: '13.00', credits: '1.50', debits: '4.00', total: '15.50', status: 'draft' });
  });
  it('bills a group of projects on one invoice', () => {
    const inv = buildInvoice({ ...jan, number: 'I-2', account: { kind: 'group', group: 'acme', projects: ['a', 'b'] } });
    expect(inv.total).toBe('18.50');
  });
  it('never goes below zero; excess credit is carried forward', () => {
    const inv = buildInvoice({ ...jan, number: 'I-3', account: { kind: 'project', project_id: 'b' }, entries: [{ kind: 'credit', description: 'promo', amount: '8.00' }] });
    expect(inv).toMatchObject({ total: '0.00', credit_carried_forward: '2.50' });
  });
  it('rejects negative credits and amounts finer than the currency', () => {
    const acct = { kind: 'project' as const, project_id: 'a' };
    expect(() => buildInvoice({ ...jan, number: 'x', account: acct, entries: [{ kind: 'credit', description: 'c', amount: '-1' }] })).toThrow('credit "c" must be a positive amount');
    expect(() => buildInvoice({ ...jan, number: 'x', account: acct, entries: [{ kind: 'debit', description: 'd', amount: '1.005' }] })).toThrow('more decimals than EUR allows');
  });
});

describe('per-user invoices', () => {
  const usage = parseUsage([
    { project_id: 'a', user_id: 'alice', meter: 'h', ...JAN, quantity: 30 },
    { project_id: 'a', user_id: 'bob', meter: 'h', ...JAN, quantity: 70 },
  ]);
  it('bills only the user\'s lines when usage is rated per user', () => {
    const perUser = rateUsage(book, usage, { by: 'user' }).projects.flatMap((p) => p.lines);
    const inv = buildInvoice({ ...jan, lines: perUser, number: 'U-1', account: { kind: 'user', project_id: 'a', user_id: 'bob' } });
    expect(inv.lines.map((l) => [l.user_id, l.amount])).toEqual([['bob', '7.00']]);
    expect(inv.total).toBe('7.00');
  });
  it('refuses project-level lines for a per-user invoice instead of billing the user for everyone', () => {
    const perProject = rateUsage(book, usage).projects.flatMap((p) => p.lines);
    expect(() => buildInvoice({ ...jan, lines: perProject, number: 'U-2', account: { kind: 'user', project_id: 'a', user_id: 'bob' } })).toThrow(/needs lines rated per user/);
  });
});

describe('invoice schedule', () => {
  it('lists the closed periods not yet invoiced, after a grace period for late data', () => {
    const cycle = { granularity: 'month' as const, timezone: 'UTC', graceSeconds: 2 * 86400 };
    const due = dueInvoicePeriods(d('2026-01-01T00:00:00Z'), d('2026-03-02T12:00:00Z'), cycle);
    expect(due.map((p) => p.start.toISOString().slice(0, 10))).toEqual(['2026-01-01']); // February is still in its grace period
    expect(dueInvoicePeriods(d('2026-01-01T00:00:00Z'), d('2026-03-03T00:00:00Z'), cycle)).toHaveLength(2);
  });
});
