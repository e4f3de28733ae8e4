import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';
import { parseUsage, rollUpUsage } from '../../billing/rating/usage';

const JAN = { period_start: '2026-01-01T00:00:00Z', period_end: '2026-02-01T00:00:00Z' };
const MAR = { period_start: '2026-03-01T00:00:00Z', period_end: '2026-04-01T00:00:00Z' };

const plan = (rounding: string, charges: string, currency = 'EUR') =>
  parsePlan(`currency: ${currency}\nrounding: ${rounding}\nplans:\n  - id: std\n    projects: ["*"]\n    effective_from: 2026-01-01\n    charges:\n${charges}`);

describe('rating a usage list', () => {
  it('sums a project\'s usage of a meter within a period before pricing (volume tier of the total)', () => {
    const book = plan('half-even', '      - {meter: requests, model: volume, tiers: [{up_to: 1000, unit_price: "0.002"}, {up_to: null, unit_price: "0.001"}]}\n');
    const usage = parseUsage([
      { project_id: 'p', meter: 'requests', ...JAN, quantity: 600 },
      { project_id: 'p', meter: 'requests', ...JAN, quantity: 600 },
    ]);
    const r = rateUsage(book, usage);
    // 1200 in total falls in the second tier: 1200 × 0.001, not 2 × 600 × 0.002
    expect(r.projects[0]!.lines).toHaveLength(1);
    expect(r.projects[0]!.lines[0]!.quantity).toBe('1200');
    expect(r.projects[0]!.total).toBe('1.20');
  });

  it('totals the rounded lines (half-even vs half-up at .5 of a cent)', () => {
    const charges = '      - {meter: a, model: per_unit, unit_price: "0.005"}\n      - {meter: b, model: per_unit, unit_price: "0.005"}\n';
    const usage = parseUsage([
      { project_id: 'p', meter: 'a', ...JAN, quantity: 1 }, // 0.005 → 0.00 (even) / 0.01 (up)
      { project_id: 'p', meter: 'b', ...JAN, quantity: 3 }, // 0.015 → 0.02 both
    ]);
    const even = rateUsage(plan('half-even', charges), usage).projects[0]!;
    const up = rateUsage(plan('half-up', charges), usage).projects[0]!;
    expect(even.lines.map((l) => l.amount)).toEqual(['0.00', '0.02']);
    expect(even.total).toBe('0.02'); // the unrounded sum 0.020 would also be 0.02, but:
    expect(up.lines.map((l) => l.amount)).toEqual(['0.01', '0.02']);
    expect(up.total).toBe('0.03'); // sum of rounded lines, not round(0.020)
  });

  it('rounds to the currency minor unit (JPY whole yen)', () => {
    const r = rateUsage(plan('half-up', '      - {meter: a, model: per_unit, unit_price: "0.5"}\n', 'JPY'), parseUsage([{ project_id: 'p', meter: 'a', ...JAN, quantity: 3 }]));
    expect(r.projects[0]).toMatchObject({ total: '2', currency: 'JPY' });
  });

  it('applies the plan version effective at each period start and a project-specific plan over "*"', () => {
    const book = parsePlan(`currency: EUR
plans:
  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "1"}]}
  - {id: std, projects: ["*"], effective_from: 2026-03-01, charges: [{meter: h, model: per_unit, unit_price: "2"}]}
  - {id: vip, projects: [acme], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "0.5"}]}
`);
    const r = rateUsage(book, parseUsage([
      { project_id: 'demo', meter: 'h', ...JAN, quantity: 10 },
      { project_id: 'demo', meter: 'h', ...MAR, quantity: 10 },
      { project_id: 'acme', meter: 'h', ...MAR, quantity: 10 },
    ]));
    const demo = r.projects.find((p) => p.project_id === 'demo')!;
    expect(demo.lines.map((l) => [l.period_start, l.amount])).toEqual([
      ['2026-01-01T00:00:00.000Z', '10.00'],
      ['2026-03-01T00:00:00.000Z', '20.00'],
    ]);
    expect(demo.total).toBe('30.00');
    expect(r.projects.find((p) => p.project_id === 'acme')!.lines[0]).toMatchObject({ plan_id: 'vip', amount: '5.00' });
  });

  it('maps a raw Ceilometer meter onto a billable one with unit conversion', () => {
    const book = plan('half-even', '      - {meter: cpu_hours, model: per_unit, unit_price: "0.021", source: {meter: cpu, unit: ns, to: hours}}\n');
    const r = rateUsage(book, parseUsage([
      { project_id: 'p', meter: 'cpu', ...JAN, quantity: '360000000000000', unit: 'ns' }, // 100 h
      { project_id: 'p', meter: 'cpu', ...JAN, quantity: 36000, unit: 's' }, // 10 h, converted from s
    ]));
    expect(r.projects[0]!.lines[0]).toMatchObject({ meter: 'cpu_hours', quantity: '110', unit: 'hours', amount: '2.31' });
  });

  it('keeps zero usage as a zero line, and reports usage no plan or charge covers', () => {
    const book = parsePlan(`currency: EUR
plans:
  - {id: std, projects: [p], effective_from: 2026-01-01, charges: [{meter: a, model: flat, price: "5"}]}
`);
    const r = rateUsage(book, parseUsage([
      { project_id: 'p', meter: 'a', ...JAN, quantity: 0 },
      { project_id: 'p', meter: 'zzz', ...JAN, quantity: 4 },
      { project_id: 'q', meter: 'a', ...JAN, quantity: 1 },
    ]));
    expect(r.projects).toHaveLength(1);
    expect(r.projects[0]).toMatchObject({ project_id: 'p', total: '0.00' });
    expect(r.projects[0]!.lines[0]).toMatchObject({ amount: '0.00', quantity: '0' });
    expect(r.unrated.map((u) => [u.project_id, u.meter, u.reason])).toEqual([
      ['p', 'zzz', 'plan "std" has no charge for meter "zzz"'],
      ['q', 'a', 'no plan applies to project "q" for a period starting 2026-01-01T00:00:00.000Z'],
    ]);
  });

  it('is idempotent: re-rating the same period gives identical lines with identical ids, whatever the input order', () => {
    const book = plan('half-even', '      - {meter: a, model: graduated, tiers: [{up_to: 10, unit_price: "1"}, {up_to: null, unit_price: "0.5"}]}\n      - {meter: b, model: package, package_size: 5, package_price: "2"}\n');
    const rows = [
      { project_id: 'p2', meter: 'b', ...JAN, quantity: 11 },
      { project_id: 'p1', meter: 'a', ...JAN, quantity: 12 },
      { project_id: 'p1', meter: 'b', ...MAR, quantity: 1 },
    ];
    const first = rateUsage(book, parseUsage(rows));
    const again = rateUsage(book, parseUsage([...rows].reverse()));
    expect(again).toEqual(first);
    expect(first.projects.map((p) => [p.project_id, p.total])).toEqual([['p1', '13.00'], ['p2', '6.00']]);
    const ids = first.projects.flatMap((p) => p.lines.map((l) => l.id));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('rating per user', () => {
  const book = plan('half-even', '      - {meter: requests, model: volume, tiers: [{up_to: 1000, unit_price: "0.002"}, {up_to: null, unit_price: "0.001"}]}\n');
  const usage = parseUsage([
    { project_id: 'p', user_id: 'alice', meter: 'requests', ...JAN, quantity: 800 },
    { project_id: 'p', user_id: 'bob', meter: 'requests', ...JAN, quantity: 700 },
    { project_id: 'p', meter: 'requests', ...JAN, quantity: 100 },
  ]);
  it('sums per project by default, so the volume tier is that of the project total', () => {
    const r = rateUsage(book, usage);
    expect(r.projects.map((p) => [p.project_id, p.user_id, p.total])).toEqual([['p', undefined, '1.60']]); // 1600 × 0.001
  });
  it('with by: user prices each user\'s own total, with distinct line ids; usage without a user goes to "(none)"', () => {
    const r = rateUsage(book, usage, { by: 'user' });
    expect(r.projects.map((p) => [p.user_id, p.total])).toEqual([['(none)', '0.20'], ['alice', '1.60'], ['bob', '1.40']]);
    expect(r.projects[1]!.lines[0]!.id).toBe('p|alice|2026-01-01T00:00:00.000Z|2026-02-01T00:00:00.000Z|requests');
  });
});

describe('rolling daily usage up to monthly billing periods', () => {
  const book = plan('half-even', '      - {meter: requests, model: volume, tiers: [{up_to: 1000, unit_price: "0.002"}, {up_to: null, unit_price: "0.001"}]}\n');
  const daily = parseUsage([
    { project_id: 'p', meter: 'requests', period_start: '2026-01-01', period_end: '2026-01-02', quantity: 600 },
    { project_id: 'p', meter: 'requests', period_start: '2026-01-31', period_end: '2026-02-01', quantity: 600 },
    { project_id: 'p', meter: 'requests', period_start: '2026-02-01', period_end: '2026-02-02', quantity: 5 },
  ]);
  it('prices the month total (tier of 1200), not each day on its own', () => {
    const r = rateUsage(book, rollUpUsage(daily, 'month'));
    expect(r.projects[0]!.lines.map((l) => [l.period_start.slice(0, 10), l.quantity, l.amount])).toEqual([
      ['2026-01-01', '1200', '1.20'],
      ['2026-02-01', '5', '0.01'],
    ]);
    expect(rateUsage(book, daily).projects[0]!.total).toBe('2.41'); // per day: 1.20 + 1.20 + 0.01
  });
  it('cuts months in the given time zone and refuses a record straddling a boundary', () => {
    const tokyo = rollUpUsage(parseUsage([{ project_id: 'p', meter: 'm', period_start: '2026-01-31T15:00:00Z', period_end: '2026-02-01T15:00:00Z', quantity: 1 }]), 'month', 'Asia/Tokyo');
    expect(tokyo[0]!.period_start.toISOString()).toBe('2026-01-31T15:00:00.000Z');
    expect(() => rollUpUsage(parseUsage([{ project_id: 'p', meter: 'm', period_start: '2026-01-31', period_end: '2026-02-02', quantity: 1 }]), 'month')).toThrow(/usage \[0\] .* spans more than one month in UTC/);
  });
});

describe('usage input validation', () => {
  it('names the record index and field', () => {
    expect(() => parseUsage([{ project_id: 'p', meter: 'a', ...JAN, quantity: -1 }], 'u.json')).toThrow('u.json: [0].quantity: must not be negative');
    expect(() => parseUsage([{ project_id: 'p', meter: 'a', period_start: '2026-02-01', period_end: '2026-01-01', quantity: 1 }], 'u.json')).toThrow('u.json: [0].period_end: period_end must be after period_start');
    expect(() => parseUsage({}, 'u.json')).toThrow(/u\.json: \(top level\): .*expected array/);
  });
});
