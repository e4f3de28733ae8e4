import { describe, expect, it } from 'vitest';
import { trendsToCsv, trendsToHtml, usageTrends } from '../../billing/invoices/report';
import { billableUsage } from '../../billing/mediation/billable';
import { mediationOptions } from '../../billing/mediation/options';
import { mediateSamples } from '../../billing/mediation/reference';
import { parsePlan } from '../../billing/rating/plan';
import { rateUsage } from '../../billing/rating/rate';
import { parseUsage } from '../../billing/rating/usage';
import { series } from './samples';

const month = (m: number) => ({ period_start: `2026-0${m}-01T00:00:00Z`, period_end: `2026-0${m + 1}-01T00:00:00Z` });
const usage = parseUsage([
  { project_id: 'p1', meter: 'cpu_hours', ...month(1), quantity: 100, unit: 'hours' },
  { project_id: 'p1', meter: 'cpu_hours', ...month(2), quantity: 150, unit: 'hours' },
  { project_id: 'p1', meter: 'cpu_hours', ...month(3), quantity: 300, unit: 'hours' },
  { project_id: 'p2', meter: 'egress, "public"', ...month(2), quantity: 7, unit: 'GB' },
]);

describe('usage trend report', () => {
  const r = usageTrends(usage, new Date('2026-04-01T00:00:00Z'));
  it('lines up every series on the same periods, missing periods as zero, with growth figures', () => {
    expect(r.periods).toHaveLength(3);
    const cpu = r.series[0]!;
    expect(cpu.points.map((p) => p.quantity)).toEqual(['100', '150', '300']);
    expect(cpu).toMatchObject({ total: '550', last_change_pct: 100, slope_per_period: 100 });
    expect(r.series[1]!.points.map((p) => p.quantity)).toEqual(['0', '7', '0']);
    expect(r.series[1]!.last_change_pct).toBe(-100);
  });
  it('writes CSV with quoting of awkward meter names', () => {
    const lines = trendsToCsv(r).trim().split('\n');
    expect(lines[0]).toBe('project_id,meter,unit,period_start,quantity');
    expect(lines).toContain('p2,"egress, ""public""",GB,2026-02-01T00:00:00.000Z,7');
    expect(lines).toHaveLength(1 + 6);
  });
  it('renders a self-contained HTML page with one inline SVG chart per series and escaped text', () => {
    const html = trendsToHtml(r);
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).not.toMatch(/<script|src=|href=/);
    expect(html).toContain('egress, &quot;public&quot;');
    // the chart's line has one point per period
    const pts = /<polyline[^>]*points="([^"]+)"/.exec(html)![1]!.split(' ');
    expect(pts).toHaveLength(3);
    const ys = pts.map((p) => Number(p.split(',')[1]));
    expect(ys[0]! > ys[1]! && ys[1]! > ys[2]!).toBe(true); // rising usage is drawn higher (smaller y)
  });
});

describe('from mediated usage to a rated line', () => {
  it('bills gauges by time-weighted usage and counters by their increase', () => {
    const samples = [
      ...series('2026-01-01T00:00:00Z', 600, 144, () => 1, { counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance', resource_id: 'vm1' }),
      ...series('2026-01-01T00:00:00Z', 3600, 25, (i) => i * 3.6e12, { counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns', resource_id: 'vm1' }),
    ];
    const docs = mediateSamples(samples, mediationOptions({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z'), carrySeconds: 3600 }));
    const records = billableUsage(docs);
    expect(records.map((u) => [u.meter, u.quantity.toFixed(), u.unit])).toEqual([
      ['cpu', String(23 * 3.6e12), 'ns'], // 23 increases of one hour of CPU within the day
      ['instance', '24', 'instance-hours'],
    ]);
    const book = parsePlan(`currency: EUR
plans:
  - id: std
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - {meter: cpu_hours, model: per_unit, unit_price: "0.02", source: {meter: cpu, unit: ns, to: hours}}
      - {meter: instance, model: per_unit, unit_price: "0.05"}
`);
    const rated = rateUsage(book, records);
    expect(rated.projects[0]!.lines.map((l) => [l.meter, l.quantity, l.amount])).toEqual([
      ['cpu_hours', '23', '0.46'],
      ['instance', '24', '1.20'],
    ]);
  });
});
