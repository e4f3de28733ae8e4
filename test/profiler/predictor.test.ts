import { describe, expect, it } from 'vitest';
import { calibrate, loadCalibration } from '../../profiler/calibration';
import { predictorCapsConfig, predictorTargetsConfig } from '../../profiler/config';
import { predict, type PredictInput, type VmProfile } from '../../profiler/predictor';
import { prng } from '../../lib/random';

const calibration = loadCalibration();

function randomProfiles(rand: () => number, n: number): VmProfile[] {
  return Array.from({ length: n }, (_, i) => ({
    vm: `vm-${i}`,
    cpu_pct: rand() * 100,
    memory_pct: rand() * 100,
    vcpus: [1, 2, 4, 8, 16, 32][Math.floor(rand() * 6)]!,
    memory_mb: [2048, 4096, 8192, 16384, 65536][Math.floor(rand() * 5)]!,
  }));
}

function input(profiles: VmProfile[], over: Partial<PredictInput> = {}): PredictInput {
  return {
    profiles,
    volume: { bytes_per_day: 2e9, events_per_second: 50 },
    targets: predictorTargetsConfig.parse({ query_ms: 5000, query_rate_per_s: 0.02, query_span_h: 6 }),
    caps: predictorCapsConfig.parse({}),
    calibration,
    ...over,
  };
}

describe('offline resource predictor', () => {
  it('never places a member above the caps, on distinct VMs per shard, over random profiles (property)', () => {
    const rand = prng(42);
    let feasible = 0;
    let infeasible = 0;
    for (let run = 0; run < 150; run++) {
      const profiles = randomProfiles(rand, 1 + Math.floor(rand() * 40));
      const caps = predictorCapsConfig.parse({ cpu_pp: 5 + rand() * 20, memory_pp: 5 + rand() * 15 });
      const targets = predictorTargetsConfig.parse({
        query_ms: 200 + rand() * 20000,
        query_rate_per_s: rand() * 0.2,
        query_span_h: 1 + rand() * 24,
        min_replicas: 1 + Math.floor(rand() * 2),
      });
      const volume = { bytes_per_day: rand() * 2e10, events_per_second: rand() * 400 };
      const rec = predict({ profiles, volume, targets, caps, calibration });
      const byVm = new Map(profiles.map((p) => [p.vm, p]));
      if (!rec.feasible) {
        infeasible++;
        expect(rec.placement).toEqual([]);
        expect(rec.explanation.join(' ')).toMatch(/Infeasible/);
        continue;
      }
      feasible++;
      expect(rec.placement).toHaveLength(rec.shards * rec.replicas);
      expect(new Set(rec.placement.map((p) => p.vm)).size).toBe(rec.placement.length);
      expect(rec.predicted.query_ms).toBeLessThanOrEqual(targets.query_ms);
      for (const pl of rec.placement) {
        const vm = byVm.get(pl.vm)!;
        // recompute the extra from the model's per-member demand, independent of the reported numbers
        const cpuPp = (rec.predicted.cpu_cores_per_member / vm.vcpus) * 100;
        const memPp = (rec.predicted.memory_mb_per_member / vm.memory_mb) * 100;
        expect(cpuPp).toBeLessThanOrEqual(caps.cpu_pp + 1e-6);
        expect(memPp).toBeLessThanOrEqual(caps.memory_pp + 1e-6);
        expect(vm.cpu_pct + cpuPp).toBeLessThanOrEqual(caps.ceiling_pct + 1e-6);
        expect(vm.memory_pct + memPp).toBeLessThanOrEqual(caps.ceiling_pct + 1e-6);
      }
    }
    expect(feasible).toBeGreaterThan(10);
    expect(infeasible).toBeGreaterThan(10);
  });

  it('picks the smallest shard count meeting the query target and says query time bound it', () => {
    const profiles = Array.from({ length: 20 }, (_, i) => ({ vm: `big-${i}`, cpu_pct: 10, memory_pct: 20, vcpus: 16, memory_mb: 65536 }));
    const inp = input(profiles, { targets: predictorTargetsConfig.parse({ query_ms: 3000, query_rate_per_s: 0.001, query_span_h: 24 }) });
    const rec = predict(inp);
    expect(rec.feasible).toBe(true);
    // samples per query / (S × scan rate) ≤ 3 s  ⇒  S ≥ ceil(samples / (3 × rate)) (query load is negligible here)
    const samples = 50 * 24 * 3600;
    const expected = Math.ceil(samples / (3 * calibration.mediation_samples_per_s_per_core));
    expect(rec.shards).toBe(expected);
    expect(rec.binding).toBe('query-time');
    expect(rec.explanation.join('\n')).toMatch(/query time bound the shard count/);
    const fewer = rec.tradeoff.find((t) => t.shards === rec.shards - 1)!;
    expect(fewer.meets_target).toBe(false);
    expect(fewer.query_ms).toBeGreaterThan(rec.predicted.query_ms);
  });

  it('reports how many VMs are missing when the profiled ones cannot host the setup', () => {
    // 2 mid-size VMs, each can host one member, but the query target needs more shards
    const profiles = Array.from({ length: 2 }, (_, i) => ({ vm: `m-${i}`, cpu_pct: 5, memory_pct: 10, vcpus: 8, memory_mb: 16384 }));
    const rec = predict(input(profiles, { targets: predictorTargetsConfig.parse({ query_ms: 1000, query_rate_per_s: 0.001, query_span_h: 24 }) }));
    expect(rec.feasible).toBe(false);
    expect(rec.placement).toEqual([]);
    expect(rec.missing_vms).toBe(rec.shards - 2);
    expect(rec.missing_vms!).toBeGreaterThan(0);
  });

  it('says when even the typical VM is too small for a member (memory cap)', () => {
    const tiny = Array.from({ length: 10 }, (_, i) => ({ vm: `t-${i}`, cpu_pct: 5, memory_pct: 10, vcpus: 1, memory_mb: 1024 }));
    const rec = predict(input(tiny));
    expect(rec.feasible).toBe(false);
    expect(rec.missing_vms).toBeNull();
    expect(rec.binding).toBe('memory-cap');
  });

  it('rejects bad input naming the field', () => {
    expect(() => predict(input([{ vm: 'x', cpu_pct: NaN, memory_pct: 1, vcpus: 1, memory_mb: 1 }]))).toThrow(/profiles\[0\] \(x\)\.cpu_pct/);
    expect(() => predict(input([], { volume: { bytes_per_day: -1, events_per_second: 1 } }))).toThrow(/bytes_per_day/);
  });

  it('derives calibration constants from benchmark results and names a missing field', () => {
    const c = calibrate({ ingest: { samples_per_s: 40000, cores: 2 }, mediation: { samples_per_s: 900000, cores: 3 }, mongod_rss_bytes: 300 * 2 ** 20, wiredtiger_cache_bytes: 100 * 2 ** 20 }, 'bench run', calibration, new Date('2024-05-01T00:00:00Z'));
    expect(c).toMatchObject({ ingest_samples_per_s_per_core: 20000, mediation_samples_per_s_per_core: 300000, mongod_base_rss_mb: 200, source: 'bench run', measured_at: '2024-05-01T00:00:00.000Z' });
    expect(c.wiredtiger_cache_min_mb).toBe(calibration.wiredtiger_cache_min_mb);
    expect(c.measured_at).toBe('2024-05-01T00:00:00.000Z');
    expect(() => calibrate({ ingest: { samples_per_s: 1 } }, 's', calibration)).toThrow(/ingest\.cores/);
    expect(() => calibrate({}, 's', calibration)).toThrow(/nothing to calibrate/);
  });
});
