import { describe, expect, it } from 'vitest';
import { defaultPolicy, loadPolicyFile, policyConfig } from '../../scaler/config';
import { demandFromObservations, simulate } from '../../scaler/simulate';
import { loadTraces } from '../../scaler/trace';
import { REPO, sharedPath } from '../support/paths';
import path from 'node:path';

const MIN = 60_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const demand = (minutes: number, fn: (m: number) => number) => Array.from({ length: minutes / 5 }, (_, i) => ({ t: new Date(T0 + i * 5 * MIN), cpu: fn(i * 5) }));
const opts = { initialShards: 1, addDelayMs: 15 * MIN, removeDelayMs: 30 * MIN };

describe('closed-loop simulation', () => {
  it('adds shards until demand fits under the thresholds, then stays', () => {
    // 160% of one shard's capacity from the start: 1 shard overloads, 2 shards run at 80% (> 75 for 1 h) → 3 shards at 53%
    const r = simulate(defaultPolicy(), { ...opts, demand: demand(24 * 60, () => 160) });
    expect(r.shards.at(-1)).toBe(3);
    expect(r.actions).toEqual({ add: 2, remove: 0 });
    expect(r.overloadMinutes).toBeLessThan(60);
  });

  it('scales back in after the demand drops for the long window, and stops at minShards', () => {
    const r = simulate(defaultPolicy(), { ...opts, initialShards: 3, demand: demand(4 * 24 * 60, (m) => (m < 6 * 60 ? 150 : 20)) });
    expect(r.actions.remove).toBeGreaterThanOrEqual(1);
    expect(Math.min(...r.shards)).toBeGreaterThanOrEqual(1);
    expect(r.shards.at(-1)).toBeLessThan(3);
    expect(r.overloadMinutes).toBe(0);
  });

  it('respects maxShards even when demand exceeds the cluster', () => {
    const r = simulate(policyConfig.parse({ maxShards: 2 }), { ...opts, demand: demand(12 * 60, () => 400) });
    expect(r.maxShards).toBe(2);
  });

  it('on Bitbrains-derived demand (VMs 41, 195, 67) the default policy overloads less and flaps less than the Atlas-like rules', () => {
    const dir = sharedPath('data', 'traces', 'bitbrains-rnd');
    const d = demandFromObservations(loadTraces(['41', '195', '67'].map((v) => path.join(dir, `${v}.csv`))));
    expect(d.length).toBeGreaterThan(8000); // one month at 5 minutes
    const ours = simulate(defaultPolicy(), { ...opts, initialShards: 2, demand: d });
    const atlas = simulate(loadPolicyFile(path.join(REPO, 'scaler', 'policies', 'atlas-m30.yaml')), { ...opts, initialShards: 2, demand: d });
    expect(ours.overloadMinutes).toBeLessThan(atlas.overloadMinutes);
    expect(ours.flaps).toBeLessThan(atlas.flaps);
    expect(ours.actions.add + ours.actions.remove).toBeLessThan(atlas.actions.add + atlas.actions.remove);
    expect(ours.shardHours).toBeLessThan(atlas.shardHours * 1.15); // at most 15% more shard-hours
  });

  it('sums VM traces on a 5-minute grid, carrying values over missed samples', () => {
    const a = [0, 5, 15].map((m) => ({ t: new Date(T0 + m * MIN), shard: 'vmA', cpu: 10 + m }));
    const b = [0, 5, 10, 15].map((m) => ({ t: new Date(T0 + m * MIN + 1000), shard: 'vmB', cpu: 1 }));
    expect(demandFromObservations([...a, ...b]).map((x) => x.cpu)).toEqual([11, 16, 16, 26]);
  });

  it('the shipped policy files are valid', () => {
    for (const f of ['default.yaml', 'atlas-m30.yaml', 'default-4h-scale-in.yaml']) expect(() => loadPolicyFile(path.join(REPO, 'scaler', 'policies', f))).not.toThrow();
    expect(loadPolicyFile(path.join(REPO, 'scaler', 'policies', 'default.yaml'))).toEqual(defaultPolicy());
  });
});
