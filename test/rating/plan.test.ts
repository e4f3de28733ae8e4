import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { YamlValidationError } from '../../config/yaml-source';
import { loadPlanFile, parsePlan, selectPlan } from '../../billing/rating/plan';

const book = parsePlan(`
currency: EUR
plans:
  - id: standard-2026
    projects: ["*"]
    effective_from: 2026-01-01
    charges: [{meter: cpu_hours, model: per_unit, unit_price: "0.02"}]
  - id: standard-march
    projects: ["*"]
    effective_from: 2026-03-01
    charges: [{meter: cpu_hours, model: per_unit, unit_price: "0.01"}]
  - id: acme-special
    projects: [acme, globex]
    effective_from: 2026-02-01
    charges: [{meter: cpu_hours, model: per_unit, unit_price: "0.005"}]
`);
const at = (iso: string) => new Date(iso);

describe('plan selection', () => {
  it('uses the "*" version with the latest effective_from on or before the period start', () => {
    expect(selectPlan(book, 'demo', at('2026-01-15T00:00:00Z'))?.id).toBe('standard-2026');
    expect(selectPlan(book, 'demo', at('2026-03-01T00:00:00Z'))?.id).toBe('standard-march');
    expect(selectPlan(book, 'demo', at('2026-02-28T23:59:59Z'))?.id).toBe('standard-2026');
  });
  it('prefers a plan naming the project over "*" once it is effective', () => {
    expect(selectPlan(book, 'acme', at('2026-02-01T00:00:00Z'))?.id).toBe('acme-special');
    expect(selectPlan(book, 'globex', at('2026-06-01T00:00:00Z'))?.id).toBe('acme-special');
  });
  it('falls back to "*" for a named project before its own plan takes effect', () => {
    expect(selectPlan(book, 'acme', at('2026-01-31T00:00:00Z'))?.id).toBe('standard-2026');
  });
  it('finds no plan for a period before every effective_from', () => {
    expect(selectPlan(book, 'demo', at('2025-12-31T23:00:00Z'))).toBeUndefined();
  });
  it('reads date-only effective_from as midnight in the plan time zone', () => {
    const berlin = parsePlan(`currency: EUR\ntimezone: Europe/Berlin\nplans:\n  - {id: a, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: m, model: flat, price: "1"}]}\n`);
    expect(berlin.plans[0]!.effectiveFrom.toISOString()).toBe('2025-12-31T23:00:00.000Z');
  });
});

/** The validation error text for a plan document. */
function errorOf(text: string): string {
  try {
    parsePlan(text, 'plan.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(YamlValidationError);
    return (err as Error).message;
  }
  throw new Error('plan was accepted');
}

describe('plan validation names file:line:key', () => {
  it('reports an unknown pricing model at its line', () => {
    const msg = errorOf(`currency: EUR
plans:
  - id: p
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - {meter: a, model: per_unit, unit_price: "1"}
      - {meter: b, model: tiered, unit_price: "1"}
`);
    expect(msg).toMatch(/^plan\.yaml:8: plans\[0\]\.charges\[1\]\.model: .*'per_unit' \| 'graduated' \| 'volume' \| 'package' \| 'flat'/);
  });
  it('reports a bad date, a bad price and an unknown key each at its own line', () => {
    const msg = errorOf(`currency: EUR
plans:
  - id: p
    projects: ["*"]
    effective_from: 2026-02-30
    charges:
      - meter: a
        model: per_unit
        unit_price: "ten"
        colour: blue
`);
    const lines = msg.split('\n');
    expect(lines).toContain('plan.yaml:5: plans[0].effective_from: "2026-02-30" is not a calendar date');
    expect(lines.some((l) => l.startsWith('plan.yaml:9: plans[0].charges[0].unit_price: amount: "ten" is not a decimal number'))).toBe(true);
    expect(lines.some((l) => l.startsWith('plan.yaml:10: plans[0].charges[0].colour: unknown key'))).toBe(true);
  });
  it('requires tiers ascending with only the last unbounded', () => {
    const msg = errorOf(`currency: EUR
plans:
  - id: p
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - meter: gb
        model: graduated
        tiers:
          - {up_to: 100, unit_price: "0.1"}
          - {up_to: 50, unit_price: "0.05"}
          - {up_to: 500, unit_price: "0.01"}
`);
    expect(msg).toContain("plan.yaml:11: plans[0].charges[0].tiers[1].up_to: must be greater than the previous tier's up_to (100)");
    expect(msg).toContain('plan.yaml:12: plans[0].charges[0].tiers[2].up_to: the last tier must be unbounded');
  });
  it('rejects two versions of a project effective from the same instant, and a meter charged twice', () => {
    const msg = errorOf(`currency: EUR
plans:
  - {id: a, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: m, model: flat, price: "1"}]}
  - id: b
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - {meter: m, model: flat, price: "1"}
      - {meter: m, model: per_unit, unit_price: "1"}
`);
    expect(msg).toMatch(/plan\.yaml:5: plans\[1\]\.projects: project "\*" already has plans\[0\] \(a\)/);
    expect(msg).toMatch(/plan\.yaml:9: plans\[1\]\.charges\[1\]\.meter: meter "m" is already charged by charges\[0\]/);
  });
  it('rejects an unknown currency code, rounding mode, time zone and unit conversion', () => {
    const msg = errorOf(`currency: euro
rounding: bankers
timezone: Mars/Olympus
plans:
  - id: p
    projects: ["*"]
    effective_from: 2026-01-01
    charges:
      - {meter: cpu_hours, model: per_unit, unit_price: "1", source: {meter: cpu, unit: ns, to: GB}}
`);
    expect(msg).toContain('plan.yaml:1: currency: expected an ISO 4217 code such as EUR');
    expect(msg).toContain('plan.yaml:2: rounding: expected one of "half-even", "half-up"');
    expect(msg).toContain('plan.yaml:3: timezone: unknown time zone "Mars/Olympus"');
    expect(msg).toContain('plan.yaml:9: plans[0].charges[0].source.to: cannot convert ns (time) to GB (data)');
  });
  it('loads the example plan file from disk and reports a missing file clearly', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'plan-'));
    const f = path.join(dir, 'p.yaml');
    writeFileSync(f, 'currency: JPY\nplans:\n  - {id: p, projects: ["*"], effective_from: "2026-01-01T09:00:00+09:00", charges: [{meter: m, model: flat, price: 500}]}\n');
    const b = loadPlanFile(f);
    expect(b.currency).toBe('JPY');
    expect(b.rounding).toBe('half-even');
    expect(b.plans[0]!.effectiveFrom.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(() => loadPlanFile(path.join(dir, 'nope.yaml'))).toThrow(/nope\.yaml:0: cannot read file/);
  });
});
