import { beforeAll, describe, expect, it } from 'vitest';
import { mediationOptions } from '../../billing/mediation/options';
import { mediateSamples } from '../../billing/mediation/reference';
import { readUsage, runMediation, runMediationInNode } from '../../billing/mediation/runner';
import type { UsageDoc } from '../../billing/mediation/usage-doc';
import { Dec } from '../../billing/rating/money';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';
import { requireRealMongo } from '../support/services';
import { series } from './samples';

const db = testDb(isolation(import.meta.url));
const d = (s: string) => new Date(s);

// Three days of two VMs (cumulative cpu with a reset, instance gauge) and a volume gauge.
const samples = [
  ...series('2026-01-01T00:03:00Z', 600, 432, (i) => 1e9 * (i % 200), { resource_id: 'vm1', counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' }),
  ...series('2026-01-01T00:03:00Z', 600, 432, () => 1, { resource_id: 'vm1', counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance' }),
  ...series('2026-01-01T06:00:00Z', 900, 200, (i) => 1e9 * i, { resource_id: 'vm2', project_id: 'p2', user_id: 'u2', counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' }),
  ...series('2026-01-01T00:00:00Z', 3600, 72, (i) => 10 + (i % 5), { resource_id: 'vol1', project_id: 'p2', user_id: null, counter_name: 'volume.size', counter_type: 'gauge', counter_unit: 'GB' }),
];
const o = mediationOptions({ from: d('2026-01-01T00:00:00Z'), to: d('2026-01-04T00:00:00Z'), granularity: 'day'});
const expected = mediateSamples(samples, { ...o, exact: true });
/** Without the run id (a fresh one per run) and the write time. */
const comparable = (docs: UsageDoc[]) => docs.map(({ mediated_at: _m, run: _r, _id: { run: _ri, ...id }, ...rest }) => ({ _id: id, ...rest }));

beforeAll(async () => {
  await db.collection('meter').insertMany(samples.map((s) => ({ ...s })));
});

describe('mediation read into Node (baseline; any MongoDB)', () => {
  it('writes the reference usage under deterministic ids and replaces it on a re-run', async () => {
    const into = 'usage_node';
    const run = await runMediationInNode(db, { ...o, into });
    expect(run.bytesToClient).toBeGreaterThan(samples.length * 100); // every sample crossed the wire
    const first = await readUsage(db, { ...o, into });
    expect(comparable(first)).toEqual(comparable(expected));
    await runMediationInNode(db, { ...o, into });
    expect(await db.collection(into).countDocuments()).toBe(expected.length);
  });

  it('a re-run drops results the samples no longer produce (a resource moved to another project)', async () => {
    const into = 'usage_moved';
    await runMediationInNode(db, { ...o, into });
    expect(await db.collection(into).countDocuments({ resource_id: 'vol1', project_id: 'p2' })).toBeGreaterThan(0);
    await db.collection('meter').updateMany({ resource_id: 'vol1' }, { $set: { project_id: 'p3' } });
    try {
      await runMediationInNode(db, { ...o, into });
      expect(await db.collection(into).countDocuments({ resource_id: 'vol1', project_id: 'p2' })).toBe(0);
      expect(await db.collection(into).countDocuments({ resource_id: 'vol1', project_id: 'p3' })).toBeGreaterThan(0);
      expect(await db.collection(into).countDocuments()).toBe(expected.length);
    } finally {
      await db.collection('meter').updateMany({ resource_id: 'vol1' }, { $set: { project_id: 'p2' } });
    }
  });
});

const real = requireRealMongo('$setWindowFields, $dateTrunc, $dateAdd, $dateDiff and $set (MongoDB ≥ 5.0) for the in-place mediation pipeline');
real.describe('in-place mediation pipeline (real MongoDB)', () => {
  it('produces the JS reference result with $merge and moves almost nothing to the client', async () => {
    const into = 'usage';
    const run = await runMediation(db, { ...o, into });
    const got = await readUsage(db, { ...o, into });
    expect(got.length).toBe(expected.length);
    got.forEach((raw, i) => {
      const g = comparable([raw])[0]!;
      const e = comparable([expected[i]!])[0]!;
      expect(g._id).toEqual(e._id);
      const { time_weighted: tw, avg, delta, exact, ...rest } = g;
      const { time_weighted: etw, avg: eavg, delta: edelta, exact: eexact, ...erest } = e;
      expect(rest).toEqual(erest);
      // the exact quantities ($toDecimal sums) equal the reference's decimal arithmetic
      for (const k of ['sum', 'delta', 'time_weighted'] as const) {
        const [a, b] = [exact?.[k], eexact?.[k]];
        if (b === null || b === undefined) expect(a ?? null).toBeNull();
        else expect(new Dec(String(a)).toSignificantDigits(30).eq(new Dec(String(b)).toSignificantDigits(30))).toBe(true);
      }
      for (const [a, b] of [[tw, etw], [avg, eavg], [delta, edelta]] as const) {
        if (b === null) expect(a).toBeNull();
        else expect(a).toBeCloseTo(b, 6);
      }
    });
    expect(run.bytesToClient).toBeLessThan(1024);
    const again = await runMediation(db, { ...o, into });
    expect(again.usageDocs).toBe(expected.length);
  });
});
