import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, policyConfig } from '../../scaler/config';
import type { Observation } from '../../scaler/metrics';
import { replicaGrowth, runPolicy, ScalerPolicy, type Decision } from '../../scaler/policy';
import { synthesize } from '../../scaler/synth';
import { traceToObservations } from '../../scaler/trace';
import { sharedPath } from '../support/paths';

const MIN = 60_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

/** Observations every `step` minutes for `minutes`, per shard values from fn(shardIndex, minute). */
function series(shards: number, minutes: number, fn: (i: number, m: number) => Partial<Observation>, step = 5): Observation[] {
  const out: Observation[] = [];
  for (let m = 0; m < minutes; m += step) for (let i = 0; i < shards; i++) out.push({ t: new Date(T0 + m * MIN), shard: `sh${i}`, ...fn(i, m) });
  return out;
}
const actions = (ds: Decision[]) => ds.filter((d) => d.action !== 'none');
const at = (d: Decision) => (d.t.getTime() - T0) / MIN;
const calm = { cpu: 40, memory: 50, disk: 40 };
const fourHoursInput = { scaleIn: [{ metric: 'cpu' as const, below: 50, for: '4h' }, { metric: 'memory' as const, below: 60, for: '4h' }, { metric: 'disk' as const, below: 60, for: '4h' }] };

describe('scale-out (any shard hot, sustained for the window)', () => {
  it('ignores spikes shorter than the window', () => {
    const s = synthesize({ scenario: 'spike' });
    expect(actions(runPolicy(defaultPolicy(), s.observations))).toEqual([]);
    // a 9-minute plateau at 99% (samples at 0, 5 — i.e. < 10 min) on one shard does nothing either
    const obs = series(2, 120, (i, m) => (i === 1 && m >= 60 && m < 70 ? { ...calm, cpu: 99 } : calm));
    expect(actions(runPolicy(defaultPolicy(), obs))).toEqual([]);
  });

  it('scales out exactly once for a sustained overload, when the 10-minute tier is met', () => {
    const obs = series(3, 180, (i, m) => (i === 2 && m >= 60 && m < 100 ? { ...calm, cpu: 95 } : calm));
    const acts = actions(runPolicy(defaultPolicy(), obs));
    expect(acts.map((d) => d.action)).toEqual(['add-shard']);
    expect(at(acts[0]!)).toBe(70); // hot since minute 60, window 10 min
    expect(acts[0]!.reason).toContain('sh2 cpu');
    expect(acts[0]!.inputs).toMatchObject({ shardCount: 3 });
  });

  it('models the two Atlas tiers: 80% for 1 hour scales out, 80% for 50 minutes does not', () => {
    const hour = series(2, 180, (i, m) => (i === 0 && m >= 30 && m <= 90 ? { ...calm, cpu: 80 } : calm));
    const acts = actions(runPolicy(defaultPolicy(), hour));
    expect(acts).toHaveLength(1);
    expect(at(acts[0]!)).toBe(90);
    const short = series(2, 180, (i, m) => (i === 0 && m >= 30 && m < 80 ? { ...calm, cpu: 80 } : calm));
    expect(actions(runPolicy(defaultPolicy(), short))).toEqual([]);
  });

  it('respects the cooldown and backs off while load never dropped', () => {
    // hot for 3 hours without relief (an open-loop replay): 10m → first, then 30m cooldown, then 60m (backoff 2)
    const obs = series(2, 200, (i) => (i === 0 ? { ...calm, cpu: 97 } : calm));
    const times = actions(runPolicy(defaultPolicy(), obs)).map(at);
    expect(times[0]).toBe(10);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(30);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(60);
    const noBackoff = policyConfig.parse({ cooldown: { backoff: 1, afterScaleOut: '30m' } });
    const t2 = actions(runPolicy(noBackoff, obs)).map(at);
    expect(t2.slice(0, 3)).toEqual([10, 40, 70]); // cooldown 30m, and the window restarts after each action (10m ≤ 30m)
  });

  it('stops at maxShards and says so', () => {
    const cfg = policyConfig.parse({ maxShards: 3 });
    expect(defaultPolicy().maxShards).toBe(16);
    const obs = series(2, 600, (i) => (i === 0 ? { ...calm, cpu: 97 } : calm));
    const ds = runPolicy(cfg, obs);
    expect(actions(ds).map((d) => d.action)).toEqual(['add-shard']);
    expect(ds.some((d) => d.reason.includes('maxShards 3'))).toBe(true);
  });

  it('a gap longer than maxGap breaks the sustained window (documented)', () => {
    // hot from minute 0 to 60 on sh0, but sh0 is silent between minute 5 and 25
    const obs = series(2, 60, (i, m) => (i === 0 ? { ...calm, cpu: 97 } : calm)).filter((o) => !(o.shard === 'sh0' && o.t.getTime() > T0 + 5 * MIN && o.t.getTime() < T0 + 25 * MIN));
    const acts = actions(runPolicy(defaultPolicy(), obs));
    // samples at 0,5 then 25,...: the 20-minute gap resets the window at 25, so the first action is at 35, not 10
    expect(acts.map(at)[0]).toBe(35);
  });

  it('is unaffected by the order of the input lines', () => {
    const obs = series(2, 180, (i, m) => (i === 0 && m >= 60 && m < 100 ? { ...calm, cpu: 95 } : calm));
    const shuffled = [...obs].reverse();
    expect(actions(runPolicy(defaultPolicy(), shuffled))).toEqual(actions(runPolicy(defaultPolicy(), obs)));
  });

  it('tolerates missing metrics (a shard reporting only query latency can still trigger)', () => {
    const obs = series(2, 60, (i) => (i === 0 ? { query_ms: 800 } : { cpu: 30 }));
    const acts = actions(runPolicy(defaultPolicy(), obs));
    expect(acts[0]?.action).toBe('add-shard');
    expect(acts[0]?.reason).toContain('query_ms');
  });

  it('a streaming policy ignores points older than its last evaluation and counts them', () => {
    const p = new ScalerPolicy(defaultPolicy());
    p.observe({ t: new Date(T0 + 10 * MIN), shard: 'a', cpu: 50 });
    p.evaluate(new Date(T0 + 10 * MIN));
    p.observe({ t: new Date(T0 + 5 * MIN), shard: 'a', cpu: 99 });
    expect(p.late).toBe(1);
  });
});

describe('read-heavy load adds a replica instead of a shard', () => {
  it('adds secondaries to the hot shard when reads ≫ writes, keeping the voting members odd: 1 → 3', () => {
    const acts = actions(runPolicy(defaultPolicy(), synthesize({ scenario: 'read-heavy' }).observations));
    expect(acts).toHaveLength(1);
    expect(acts[0]).toMatchObject({ action: 'add-replica', shard: 'sh0', count: 2 });
    expect(acts[0]!.nonVoting).toBeUndefined();
    expect(acts[0]!.reason).toMatch(/add two voting secondaries to sh0 \(1 → 3 members, 1 → 3 voting/);
    expect(acts[0]!.inputs.replica).toEqual({ members: [1, 3], voting: [1, 3] });
  });

  it('with room for one member only, the new member gets no vote and the decision says why', () => {
    const cfg = policyConfig.parse({ readHeavy: { maxMembersPerShard: 2 }, cooldown: { backoff: 1 } });
    const obs = series(2, 120, (i) => (i === 0 ? { ...calm, cpu: 96, reads_per_s: 3000, writes_per_s: 100 } : calm));
    const first = actions(runPolicy(cfg, obs))[0]!;
    expect(first).toMatchObject({ action: 'add-replica', nonVoting: true });
    expect(first.count ?? 1).toBe(1);
    expect(first.reason).toMatch(/non-voting secondary .*voting stays 1: room for one member only under maxMembersPerShard 2, and a vote would make the voting set even/);
  });

  it('replicaGrowth never leaves an even number of voting members', () => {
    for (let max = 1; max <= 7; max++) {
      for (let voters = 1; voters <= max; voters++) {
        for (let members = voters; members < max; members++) {
          const g = replicaGrowth(members, voters, max);
          expect(members + g.add).toBeLessThanOrEqual(max);
          expect((voters + (g.voting ? g.add : 0)) % 2).toBe(1);
        }
      }
    }
  });

  it('write-heavy hot load adds a shard', () => {
    const acts = actions(runPolicy(defaultPolicy(), synthesize({ scenario: 'sustained' }).observations));
    expect(acts.map((d) => d.action)).toEqual(['add-shard']);
  });

  it('falls back to add-shard once the replica set is at maxMembersPerShard', () => {
    const cfg = policyConfig.parse({ readHeavy: { maxMembersPerShard: 3 }, cooldown: { backoff: 1 } });
    const obs = series(2, 120, (i) => (i === 0 ? { ...calm, cpu: 96, reads_per_s: 3000, writes_per_s: 100 } : calm));
    expect(actions(runPolicy(cfg, obs)).map((d) => d.action).slice(0, 2)).toEqual(['add-replica', 'add-shard']);
  });

  it('a disk-bound shard always gets a new shard, however read-heavy', () => {
    const obs = series(2, 60, (i) => (i === 0 ? { ...calm, disk: 95, reads_per_s: 3000, writes_per_s: 10 } : calm));
    expect(actions(runPolicy(defaultPolicy(), obs))[0]?.action).toBe('add-shard');
  });
});

describe('scale-in (all shards cool for the long window)', () => {
  /** Atlas's 4-hour low window, to keep the series short. */
  const fourHours = policyConfig.parse(fourHoursInput);

  it('removes one shard after 24 hours of all-cool (default window), the next only 24 hours later', () => {
    const acts = actions(runPolicy(defaultPolicy(), synthesize({ scenario: 'cool-down', shards: 3 }).observations));
    expect(acts.map((d) => d.action)).toEqual(['remove-shard', 'remove-shard']);
    const h = (d: Decision) => (d.t.getTime() - Date.parse('2026-01-05T00:00:00Z')) / 3_600_000;
    expect(h(acts[0]!)).toBe(24);
    expect(h(acts[1]!)).toBe(48);
    expect(acts[0]!.reason).toContain('drain');
  });

  it('a 4-hour window (Atlas) scales in after 4 hours; the scale-in cooldown still holds the next one for 24 hours', () => {
    const obs = series(3, 30 * 60, () => ({ cpu: 10, memory: 30, disk: 20 }));
    const acts = actions(runPolicy(fourHours, obs));
    expect(acts.map(at)).toEqual([240, 240 + 24 * 60]);
  });

  it('does not scale in while one shard is warm', () => {
    const obs = series(3, 600, (i) => (i === 1 ? { cpu: 60, memory: 30, disk: 20 } : { cpu: 10, memory: 30, disk: 20 }));
    const ds = runPolicy(fourHours, obs);
    expect(actions(ds)).toEqual([]);
    expect(ds.at(-1)!.reason).toContain('not all shards cool: sh1');
  });

  it('does not scale in if the remaining shards would be too loaded', () => {
    // 2 shards at 45% CPU: cool (< 50) but 45 × 2/1 = 90% after removal
    const obs = series(2, 600, () => ({ cpu: 45, memory: 30, disk: 20 }));
    const ds = runPolicy(fourHours, obs);
    expect(actions(ds)).toEqual([]);
    expect(ds.at(-1)!.reason).toMatch(/projected cpu .* ≥ 70%/);
  });

  it('does not scale in when a shard stopped reporting, nor below minShards', () => {
    const obs = series(3, 600, () => ({ cpu: 10, memory: 30, disk: 20 })).filter((o) => !(o.shard === 'sh2' && o.t.getTime() > T0 + 300 * MIN));
    const ds = runPolicy(fourHours, obs);
    expect(ds.find((d) => d.t.getTime() === T0 + 500 * MIN)!.reason).toContain('sh2 stopped reporting');
    const two = series(2, 600, () => ({ cpu: 10, memory: 30, disk: 20 }));
    expect(actions(runPolicy(policyConfig.parse({ ...fourHoursInput, minShards: 2 }), two))).toEqual([]);
    expect(actions(runPolicy(fourHours, two)).map((d) => d.action)).toEqual(['remove-shard']);
  });

  it('picks the shard with the least data to drain', () => {
    const obs = series(3, 300, (i) => ({ cpu: 10, memory: 30, disk: [30, 12, 25][i] }));
    expect(actions(runPolicy(fourHours, obs))[0]).toMatchObject({ action: 'remove-shard', shard: 'sh1' });
  });
});

describe('predictive scale-out from onboarding estimates', () => {
  it('adds a shard before the estimated data arrives', () => {
    const s = synthesize({ scenario: 'onboarding' });
    const acts = actions(runPolicy(defaultPolicy(), s.observations, s.onboarding));
    expect(acts[0]!.action).toBe('add-shard');
    expect(acts[0]!.reason).toMatch(/^predictive/);
    expect(acts[0]!.t.getTime()).toBeLessThan(s.onboarding[0]!.arrives_at.getTime());
    expect(acts[0]!.t.getTime()).toBeGreaterThanOrEqual(s.onboarding[0]!.t.getTime());
  });

  it('computes how many shards the projected storage needs', () => {
    // 2 shards of 100 GB at 50% = 100 GB used; +20 GB/day for 7 days = 240 GB → < 90% needs 3 shards (80%)
    const obs = series(2, 60, () => ({ ...calm, disk: 50, disk_total_bytes: 100e9 }));
    const e = { t: new Date(T0), arrives_at: new Date(T0 + 30 * MIN), bytes_per_day: 20e9, events_per_s: 0 };
    const acts = actions(runPolicy(defaultPolicy(), obs, [e]));
    expect(acts[0]).toMatchObject({ action: 'add-shard' });
    expect(acts[0]!.count ?? 1).toBe(1);
    const big = { ...e, bytes_per_day: 60e9 }; // 100 + 420 = 520 GB → 6 shards (86.7%)
    expect(actions(runPolicy(defaultPolicy(), obs, [big]))[0]!.count).toBe(4);
  });

  it('does nothing for an estimate that fits', () => {
    const obs = series(2, 60, () => ({ ...calm, disk: 20, writes_per_s: 1000, disk_total_bytes: 100e9 }));
    const e = { t: new Date(T0), arrives_at: new Date(T0 + 30 * MIN), bytes_per_day: 1e9, events_per_s: 50 };
    const ds = runPolicy(defaultPolicy(), obs, [e]);
    expect(actions(ds)).toEqual([]);
    expect(ds.some((d) => d.reason.includes('fits'))).toBe(true);
  });
});

describe('trace-derived series (Bitbrains Rnd VM traces as shard hosts)', () => {
  const load = (id: string, rows: number) => traceToObservations(readFileSync(sharedPath('data', 'traces', 'bitbrains-rnd', `${id}.csv`), 'utf8'), `vm${id}`, { maxRows: rows });

  it('an idle VM pair (27, 219) never scales out; a persistently hot VM (41) does', () => {
    const idle = [...load('27', 1000), ...load('219', 1000)];
    expect(actions(runPolicy(defaultPolicy(), idle)).filter((d) => d.action !== 'remove-shard')).toEqual([]);
    const hot = [...load('41', 1000), ...load('27', 1000)];
    const acts = actions(runPolicy(defaultPolicy(), hot)).filter((d) => d.action === 'add-shard');
    expect(acts.length).toBeGreaterThan(0);
    expect(acts.every((d) => d.reason.startsWith('vm41'))).toBe(true);
  });

  it('every trace-driven scale-out is backed by ≥ 10 minutes above the threshold on that VM', () => {
    const obs = [...load('195', 2000), ...load('67', 2000)];
    const acts = actions(runPolicy(defaultPolicy(), obs)).filter((d) => d.action === 'add-shard');
    expect(acts.length).toBeGreaterThan(0);
    for (const d of acts) {
      const hot = (d.inputs.hot as { shard: string; above: number }[])[0]!;
      const recent = obs.filter((o) => o.shard === hot.shard && o.t.getTime() <= d.t.getTime() && o.t.getTime() >= d.t.getTime() - 10 * MIN);
      expect(recent.length).toBeGreaterThanOrEqual(2);
      expect(recent.every((o) => (o.cpu ?? 0) > hot.above * 0.95 || (o.memory ?? 0) > hot.above * 0.95)).toBe(true);
    }
  });
});
