import { Aggregator } from 'mingo';
import { Dec } from '../../billing/rating/money';
import { describe, expect, it } from 'vitest';
import { mediationOptions, type MediationOptions } from '../../billing/mediation/options';
import { buildMediationPipeline } from '../../billing/mediation/pipeline';
import { compareUsage, mediateSamples, type MediationSample } from '../../billing/mediation/reference';
import type { UsageDoc } from '../../billing/mediation/usage-doc';
import { series } from './samples';

/**
 * CI check of the production mediation pipeline: the exact stages `runMediation` sends to the
 * cluster (only the final `$merge` is cut off, it needs a server) run in mingo, a pure-JS
 * aggregation engine, over generated samples, and must equal the JS reference document for
 * document, field for field. The MongoDB stand-in cannot run them ($setWindowFields, $dateTrunc…),
 * so without this the pipeline would only be exercised where a real mongod is available.
 *
 * Periods are UTC only: mingo 7.2.7 truncates dates to UTC whatever `timezone` says (with
 * "+05:30" it cuts at UTC hours), so a zone check through mingo would test mingo's bug, not the
 * pipeline. Time zones and DST are checked against the reference on real MongoDB
 * (mediation-mongo.test.ts) and in the reference's own tests.
 */

// Two counters (one with resets), three gauges (one with gaps longer than the carry), one delta meter.
const samples: MediationSample[] = [
  ...series('2026-01-01T00:07:00Z', 600, 400, (i) => 1e9 * (i % 150), { resource_id: 'vm1', counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' }),
  ...series('2026-01-01T05:00:00Z', 900, 200, (i) => 5e8 * i, { resource_id: 'vm2', project_id: 'p2', user_id: 'u2', counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' }),
  ...series('2026-01-01T00:07:00Z', 600, 400, () => 1, { resource_id: 'vm1', counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance' }),
  ...series('2026-01-01T00:00:00Z', 3600, 60, (i) => 256 * (1 + (i % 4)), { resource_id: 'vm2', project_id: 'p2', user_id: 'u2', counter_name: 'memory', counter_type: 'gauge', counter_unit: 'MB' }),
  ...series('2026-01-01T02:00:00Z', 5 * 3600, 12, (i) => 10 + i, { resource_id: 'vol1', project_id: 'p2', user_id: null, counter_name: 'volume.size', counter_type: 'gauge', counter_unit: 'GB' }),
  ...series('2026-01-01T00:30:00Z', 1800, 120, (i) => 1000 + i, { resource_id: 'vm1', counter_name: 'network.outgoing.bytes.delta', counter_type: 'delta', counter_unit: 'B' }),
];

/**
 * mingo knows zones only as UTC offsets; MongoDB treats `timezone: "UTC"` and `"+00:00"` alike,
 * so the date operators' `timezone` arguments (and nothing else) are spelled as the offset.
 */
function forMingo(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(forMingo);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'timezone' && x === 'UTC' ? '+00:00' : forMingo(x)]));
  }
  return v;
}

function runThroughMingo(o: MediationOptions): UsageDoc[] {
  const stages = forMingo(buildMediationPipeline(o)) as Record<string, unknown>[];
  const last = stages[stages.length - 1]!;
  expect(Object.keys(last)).toEqual(['$merge']); // what is cut off is only the write
  const docs = new Aggregator(stages.slice(0, -1)).run(samples.map((s) => ({ ...s }))) as unknown as UsageDoc[];
  return docs.sort(compareUsage);
}

const FLOAT_FIELDS = ['avg', 'time_weighted', 'delta', 'sum', 'duration'] as const;
const comparable = (d: UsageDoc) => {
  const { mediated_at: _m, ...rest } = d;
  const out: Record<string, unknown> = { ...rest };
  // sums of the same terms in another order may differ in the last bits
  for (const f of FLOAT_FIELDS) if (typeof out[f] === 'number') out[f] = Number((out[f] as number).toPrecision(12));
  return out;
};

const cases: Array<[string, Partial<MediationOptions> & { from: Date; to: Date }]> = [
  ['day, carry 3600 s', { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-04T00:00:00Z'), granularity: 'day', carrySeconds: 3600 }],
  ['day, carry 20000 s (holds across gaps and midnight)', { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-04T00:00:00Z'), granularity: 'day', carrySeconds: 20_000 }],
  ['hour, carry 1200 s', { from: new Date('2026-01-01T10:00:00Z'), to: new Date('2026-01-02T04:00:00Z'), granularity: 'hour', carrySeconds: 1200 }],
  ['hour, carry 0 (no hold, no baseline)', { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-01T12:00:00Z'), granularity: 'hour', carrySeconds: 0 }],
  ['month', { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z'), granularity: 'month', carrySeconds: 3600 }],
  ['one project only', { from: new Date('2026-01-02T00:00:00Z'), to: new Date('2026-01-03T00:00:00Z'), granularity: 'day', carrySeconds: 3600, projects: ['p2'] }],
];

describe('production mediation pipeline (minus $merge) in mingo equals the JS reference (UTC)', () => {
  it.each(cases)('%s', (_name, opts) => {
    const o = mediationOptions({ ...opts, timezone: 'UTC' });
    const expected = mediateSamples(samples, o);
    const got = runThroughMingo(o);
    expect(expected.length).toBeGreaterThan(0);
    expect(got.map(comparable)).toEqual(expected.map(comparable));
  });

  it('as runMediation sends it (with the run id and the exact $toDecimal quantities) it gives the reference\'s exact decimals', () => {
    const o = mediationOptions({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-04T00:00:00Z'), granularity: 'day', timezone: 'UTC', carrySeconds: 3600, run: 'r1', exact: true });
    const expected = mediateSamples(samples, o);
    const got = runThroughMingo(o);
    const strip = (d: UsageDoc) => {
      const { exact: _x, ...rest } = d;
      return comparable(rest as UsageDoc);
    };
    expect(got.map(strip)).toEqual(expected.map(strip));
    expect(got.every((d) => d.run === 'r1' && d._id.run === 'r1')).toBe(true);
    got.forEach((g, i) => {
      for (const k of ['sum', 'delta', 'time_weighted'] as const) {
        const [a, b] = [g.exact?.[k], expected[i]!.exact?.[k]];
        if (b === null || b === undefined) expect(a ?? null).toBeNull();
        // mingo evaluates $toDecimal as a JS number, so here the exact stages are checked for shape and to
        // 15 digits; their full decimal precision is checked on a real mongod (mediation-mongo.test.ts)
        else expect(new Dec(String(a)).toSignificantDigits(15).toString()).toBe(new Dec(String(b)).toSignificantDigits(15).toString());
      }
    });
  });

  it('the reference sees the resets and the delta meter, so the comparison covers them', () => {
    const o = mediationOptions({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-04T00:00:00Z'), granularity: 'day', timezone: 'UTC', carrySeconds: 3600 });
    const got = runThroughMingo(o);
    expect(got.some((d) => d.meter === 'cpu' && d.resets > 0)).toBe(true);
    expect(got.some((d) => d.counter_type === 'delta' && d.sum > 0)).toBe(true);
    expect(got.some((d) => d.meter === 'volume.size' && (d.time_weighted ?? 0) > 0)).toBe(true);
  });
});
