import type { Calibration } from './calibration';
import type { PredictorCaps, PredictorTargets } from './config';
import { median } from '../lib/stats';

/**
 * Offline resource predictor (paper §III-C), pure. From the profiled VMs, the estimator's expected data
 * volume and the operator's targets it recommends the metering store setup — shards, members per shard
 * and the VM each member runs on — such that no hosting VM gets more than the caps (paper: CPU +15
 * percentage points, memory +10) and explains which constraint decided the shard count.
 *
 * Model, for S shards with r members each (one mongod per VM; a shard's members on distinct VMs):
 * - a mediation query scans N = events/s × span samples, split evenly over the shards, each shard
 *   scanning its part on one core at `mediation_samples_per_s_per_core`:  T_s = N / (S · c_m);
 * - reads are spread over the r members, each serving one query at a time, so a member is busy
 *   ρ = q · T_s / r of the time, and queueing stretches the query to T = T_s / (1 − ρ) (M/M/1);
 *   we require T ≤ target and ρ ≤ avg_load;
 * - every member applies all writes of its shard: ingest cores = (events/s / S) / c_i;
 * - extra CPU of a member = ingest cores + ρ cores; extra memory = mongod base + WiredTiger cache,
 *   the cache holding `cache_fraction_of_hot_data` of the shard's share of the queried span (at least
 *   the minimum cache);
 * - a VM can host a member if extra CPU ≤ cap and extra memory ≤ cap (percentage points of the VM)
 *   and current + extra ≤ ceiling for both.
 * The search takes, over r ∈ [min_replicas, max_replicas] and S ascending, the setup with the fewest
 * mongod processes (then fewest shards): fewer shards cost less but process slower, and the table in
 * `tradeoff` shows the predicted query time for other shard counts.
 */

export interface VmProfile {
  vm: string;
  name?: string;
  /** Current (moving-average) CPU utilisation, % of the VM's vCPUs. */
  cpu_pct: number;
  /** Current memory utilisation, % of the VM's memory. */
  memory_pct: number;
  vcpus: number;
  memory_mb: number;
}

/** The data-size estimator's expected volume. */
export interface DataVolume {
  bytes_per_day: number;
  events_per_second: number;
}

export interface Placement {
  shard: number;
  /** 0 = the member preferred as primary. */
  member: number;
  vm: string;
  name: string;
  extra_cpu_pp: number;
  extra_memory_pp: number;
  cpu_pct_after: number;
  memory_pct_after: number;
}

export type Binding = 'none' | 'query-time' | 'query-load' | 'cpu-cap' | 'memory-cap' | 'ceiling' | 'vm-count';

export interface Recommendation {
  feasible: boolean;
  shards: number;
  replicas: number;
  placement: Placement[];
  predicted: {
    query_ms: number;
    target_query_ms: number;
    /** Busy fraction of a member serving queries. */
    query_load: number;
    ingest_cores_per_member: number;
    cpu_cores_per_member: number;
    memory_mb_per_member: number;
    samples_per_query: number;
  };
  /** What stopped a smaller shard count. */
  binding: Binding;
  /** Predicted query time for other shard counts with the same members per shard (the trade-off). */
  tradeoff: { shards: number; query_ms: number; meets_target: boolean; placeable: boolean }[];
  /** When infeasible: how many more VMs like the median profiled VM would make it feasible (null if none would). */
  missing_vms: number | null;
  explanation: string[];
}

export interface PredictInput {
  profiles: readonly VmProfile[];
  volume: DataVolume;
  targets: PredictorTargets;
  caps: PredictorCaps;
  calibration: Calibration;
}

interface Demand {
  serviceS: number;
  rho: number;
  queryS: number;
  ingestCores: number;
  cpuCores: number;
  memoryMb: number;
}

type Fit = 'ok' | 'cpu-cap' | 'memory-cap' | 'ceiling';

const round = (x: number, d = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

export function validateInput(input: PredictInput): void {
  const { volume, targets } = input;
  if (!(volume.bytes_per_day >= 0) || !Number.isFinite(volume.bytes_per_day)) throw new RangeError(`bytes_per_day must be a finite number ≥ 0, got ${volume.bytes_per_day}`);
  if (!(volume.events_per_second >= 0) || !Number.isFinite(volume.events_per_second)) throw new RangeError(`events_per_second must be a finite number ≥ 0, got ${volume.events_per_second}`);
  if (!(targets.query_ms > 0)) throw new RangeError(`query_ms must be > 0, got ${targets.query_ms}`);
  if (!(targets.query_rate_per_s >= 0)) throw new RangeError(`query_rate_per_s must be ≥ 0, got ${targets.query_rate_per_s}`);
  if (targets.min_replicas > targets.max_replicas) throw new RangeError(`min_replicas (${targets.min_replicas}) exceeds max_replicas (${targets.max_replicas})`);
  input.profiles.forEach((p, i) => {
    for (const k of ['cpu_pct', 'memory_pct', 'vcpus', 'memory_mb'] as const) {
      if (!Number.isFinite(p[k]) || p[k] < 0) throw new RangeError(`profiles[${i}] (${p.vm}).${k} must be a finite number ≥ 0, got ${p[k]}`);
    }
  });
}

function demand(input: PredictInput, shards: number, replicas: number): Demand {
  const { volume, targets, calibration: c } = input;
  const spanS = targets.query_span_h * 3600;
  const samples = volume.events_per_second * spanS;
  const serviceS = samples / shards / c.mediation_samples_per_s_per_core;
  const rho = (targets.query_rate_per_s * serviceS) / replicas;
  const queryS = rho < 1 ? serviceS / (1 - rho) : Infinity;
  const ingestCores = volume.events_per_second / shards / c.ingest_samples_per_s_per_core;
  const hotMb = (volume.bytes_per_day * (targets.query_span_h / 24)) / shards / 2 ** 20;
  const cacheMb = Math.max(c.wiredtiger_cache_min_mb, hotMb * c.cache_fraction_of_hot_data);
  return { serviceS, rho, queryS, ingestCores, cpuCores: ingestCores + Math.min(rho, 1), memoryMb: c.mongod_base_rss_mb + cacheMb };
}

function extraOn(p: VmProfile, d: Demand): { cpuPp: number; memPp: number } {
  return { cpuPp: p.vcpus > 0 ? (d.cpuCores / p.vcpus) * 100 : Infinity, memPp: p.memory_mb > 0 ? (d.memoryMb / p.memory_mb) * 100 : Infinity };
}

function fit(p: VmProfile, d: Demand, caps: PredictorCaps): Fit {
  const { cpuPp, memPp } = extraOn(p, d);
  if (cpuPp > caps.cpu_pp) return 'cpu-cap';
  if (memPp > caps.memory_pp) return 'memory-cap';
  if (p.cpu_pct + cpuPp > caps.ceiling_pct || p.memory_pct + memPp > caps.ceiling_pct) return 'ceiling';
  return 'ok';
}

function queryOk(d: Demand, targets: PredictorTargets): boolean {
  return d.rho <= targets.avg_load && d.queryS * 1000 <= targets.query_ms;
}

/** Most free CPU cores first, then most free memory, then id (deterministic). */
function byHeadroom(a: VmProfile, b: VmProfile): number {
  const fa = (a.vcpus * (100 - a.cpu_pct)) / 100;
  const fb = (b.vcpus * (100 - b.cpu_pct)) / 100;
  const ma = (a.memory_mb * (100 - a.memory_pct)) / 100;
  const mb = (b.memory_mb * (100 - b.memory_pct)) / 100;
  return fb - fa || mb - ma || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0);
}

export function predict(input: PredictInput): Recommendation {
  validateInput(input);
  const { profiles, targets, caps } = input;
  const V = profiles.length;
  const eligibleFor = (d: Demand) => profiles.filter((p) => fit(p, d, caps) === 'ok');

  let best: { shards: number; replicas: number; d: Demand; eligible: VmProfile[] } | undefined;
  for (let r = targets.min_replicas; r <= targets.max_replicas; r++) {
    for (let s = 1; s * r <= V; s++) {
      if (best && (s * r > best.shards * best.replicas || (s * r === best.shards * best.replicas && s >= best.shards))) break;
      const d = demand(input, s, r);
      if (!queryOk(d, targets)) continue;
      const eligible = eligibleFor(d);
      if (eligible.length >= s * r) {
        best = { shards: s, replicas: r, d, eligible };
        break;
      }
    }
  }

  const explanation: string[] = [];
  const ms = (x: number) => (Number.isFinite(x) ? `${round(x * 1000, 1)} ms` : 'unbounded (queries pile up)');
  const samplesPerQuery = input.volume.events_per_second * targets.query_span_h * 3600;
  explanation.push(
    `Each mediation query scans ${Math.round(samplesPerQuery).toLocaleString('en-US')} samples (${input.volume.events_per_second} events/s over ${targets.query_span_h} h); ` +
      `${targets.query_rate_per_s} queries/s, target ${targets.query_ms} ms, members at most ${round(targets.avg_load * 100, 0)}% busy with queries.`,
  );
  explanation.push(`Caps per hosting VM: +${caps.cpu_pp} pp CPU, +${caps.memory_pp} pp memory, and at most ${caps.ceiling_pct}% in total; ${V} profiled VMs.`);

  if (best === undefined) return infeasible(input, explanation, samplesPerQuery);

  const { shards: S, replicas: R, d } = best;
  const chosen = [...best.eligible].sort(byHeadroom).slice(0, S * R);
  const placement: Placement[] = chosen.map((p, i) => {
    const e = extraOn(p, d);
    return {
      shard: i % S,
      member: Math.floor(i / S),
      vm: p.vm,
      name: p.name ?? p.vm,
      extra_cpu_pp: round(e.cpuPp, 3),
      extra_memory_pp: round(e.memPp, 3),
      cpu_pct_after: round(p.cpu_pct + e.cpuPp, 3),
      memory_pct_after: round(p.memory_pct + e.memPp, 3),
    };
  });
  placement.sort((a, b) => a.shard - b.shard || a.member - b.member);

  // Why not one shard fewer (same members per shard)?
  let binding: Binding = 'none';
  if (S > 1) {
    const dPrev = demand(input, S - 1, R);
    if (dPrev.rho > targets.avg_load) binding = 'query-load';
    else if (dPrev.queryS * 1000 > targets.query_ms) binding = 'query-time';
    else binding = placementBinding(profiles, dPrev, caps, (S - 1) * R);
    explanation.push(
      `${S - 1} shard(s) would not do: ` +
        describeBinding(binding, dPrev, targets, caps, profiles, (S - 1) * R) +
        '.',
    );
  } else {
    explanation.push('One shard meets the targets within the caps.');
  }
  explanation.push(
    `Recommended: ${S} shard(s) × ${R} member(s) on ${S * R} VM(s); predicted query time ${ms(d.queryS)} (target ${targets.query_ms} ms); ` +
      `each member adds ${round(d.cpuCores, 3)} cores (${round(d.ingestCores, 3)} ingest + ${round(Math.min(d.rho, 1), 3)} queries) and ${round(d.memoryMb, 0)} MiB.`,
  );

  return {
    feasible: true,
    shards: S,
    replicas: R,
    placement,
    predicted: {
      query_ms: round(d.queryS * 1000, 3),
      target_query_ms: targets.query_ms,
      query_load: round(d.rho, 4),
      ingest_cores_per_member: round(d.ingestCores, 4),
      cpu_cores_per_member: round(d.cpuCores, 4),
      memory_mb_per_member: round(d.memoryMb, 1),
      samples_per_query: Math.round(samplesPerQuery),
    },
    binding,
    tradeoff: tradeoff(input, S, R),
    missing_vms: 0,
    explanation,
  };
}

function placementBinding(profiles: readonly VmProfile[], d: Demand, caps: PredictorCaps, needed: number): Binding {
  const counts: Record<Fit, number> = { ok: 0, 'cpu-cap': 0, 'memory-cap': 0, ceiling: 0 };
  for (const p of profiles) counts[fit(p, d, caps)]++;
  if (counts.ok >= needed) return 'none';
  if (profiles.length < needed) return 'vm-count';
  const worst = (['cpu-cap', 'memory-cap', 'ceiling'] as const).reduce((a, b) => (counts[b] > counts[a] ? b : a));
  return worst;
}

function describeBinding(b: Binding, d: Demand, targets: PredictorTargets, caps: PredictorCaps, profiles: readonly VmProfile[], needed: number): string {
  switch (b) {
    case 'query-load':
      return `each member would be busy ${round(d.rho * 100, 1)}% of the time with queries, above the ${round(targets.avg_load * 100, 0)}% average-load target`;
    case 'query-time':
      return `queries would take ${round(d.queryS * 1000, 1)} ms, above the ${targets.query_ms} ms target (query time bound the shard count)`;
    case 'vm-count':
      return `it needs ${needed} VMs and only ${profiles.length} are profiled`;
    case 'cpu-cap':
    case 'memory-cap':
    case 'ceiling': {
      const ok = profiles.filter((p) => fit(p, d, caps) === 'ok').length;
      const what =
        b === 'cpu-cap'
          ? `${round(d.cpuCores, 3)} extra cores per member exceed +${caps.cpu_pp} pp CPU`
          : b === 'memory-cap'
            ? `${round(d.memoryMb, 0)} MiB per member exceed +${caps.memory_pp} pp memory`
            : `current load + the member would exceed the ${caps.ceiling_pct}% ceiling`;
      return `${what} on most VMs (only ${ok} of the ${needed} VMs needed can host a member)`;
    }
    default:
      return 'no constraint';
  }
}

function tradeoff(input: PredictInput, chosen: number, replicas: number): Recommendation['tradeoff'] {
  const V = input.profiles.length;
  const maxS = Math.max(1, Math.floor(V / replicas));
  const candidates = new Set<number>([1, 2, 4, 8, 16, 32, chosen - 1, chosen, chosen + 1, chosen * 2]);
  return [...candidates]
    .filter((s) => s >= 1 && s <= Math.max(maxS, chosen))
    .sort((a, b) => a - b)
    .map((s) => {
      const d = demand(input, s, replicas);
      const placeable = input.profiles.filter((p) => fit(p, d, input.caps) === 'ok').length >= s * replicas;
      return { shards: s, query_ms: round(d.queryS * 1000, 3), meets_target: queryOk(d, input.targets), placeable };
    });
}

function infeasible(input: PredictInput, explanation: string[], samplesPerQuery: number): Recommendation {
  const { profiles, targets, caps } = input;
  const R = targets.min_replicas;
  const limit = Math.max(64, profiles.length * 4);
  const medianOf = (ps: readonly VmProfile[]): VmProfile => ({
    vm: 'new',
    cpu_pct: median(ps.map((p) => p.cpu_pct)),
    memory_pct: median(ps.map((p) => p.memory_pct)),
    vcpus: median(ps.map((p) => p.vcpus)),
    memory_mb: median(ps.map((p) => p.memory_mb)),
  });
  // The VMs to add are assumed to look like the median of the profiled VMs that could host a member
  // at all (at the smallest per-member demand considered); without any, the median of all (or an idle
  // 4 vCPU / 8 GiB VM when nothing is profiled).
  const lightest = demand(input, limit, R);
  const capable = profiles.filter((p) => fit(p, lightest, caps) === 'ok');
  const typical: VmProfile = capable.length
    ? medianOf(capable)
    : profiles.length
      ? medianOf(profiles)
      : { vm: 'new', cpu_pct: 0, memory_pct: 0, vcpus: 4, memory_mb: 8192 };
  let missing: number | null = null;
  let missingShards = 0;
  let queryReachable = false;
  for (let s = 1; s <= limit; s++) {
    const d = demand(input, s, R);
    if (!queryOk(d, targets)) continue;
    queryReachable = true;
    if (fit(typical, d, caps) !== 'ok') continue;
    const have = profiles.filter((p) => fit(p, d, caps) === 'ok').length;
    const need = Math.max(0, s * R - have);
    if (missing === null || need < missing) {
      missing = need;
      missingShards = s;
    }
    if (need === 0) break;
  }
  const d1 = demand(input, Math.max(1, missingShards || 1), R);
  const like = `${typical.vcpus} vCPUs, ${Math.round(typical.memory_mb)} MiB, ${round(typical.cpu_pct, 1)}% CPU, ${round(typical.memory_pct, 1)}% memory`;
  let binding: Binding = 'vm-count';
  let reason: string;
  if (!queryReachable) {
    binding = 'query-time';
    reason = `no shard count up to ${limit} meets the ${targets.query_ms} ms query target at ${targets.query_rate_per_s} queries/s with ${R} member(s) per shard`;
  } else if (missing === null) {
    const why = fit(typical, lightest, caps);
    binding = why === 'ok' ? 'vm-count' : why;
    reason =
      `even a VM like the median profiled one (${like}) cannot host a member: ` +
      (why === 'memory-cap'
        ? `a member needs at least ${round(lightest.memoryMb, 0)} MiB (mongod ${input.calibration.mongod_base_rss_mb} MiB + cache), above +${caps.memory_pp} pp of ${Math.round(typical.memory_mb)} MiB`
        : why === 'cpu-cap'
          ? `a member needs ${round(lightest.cpuCores, 3)} cores, above +${caps.cpu_pp} pp of ${typical.vcpus} vCPUs`
          : `its current load plus a member exceeds the ${caps.ceiling_pct}% ceiling`) +
      '; larger VMs are needed';
  } else {
    reason = `not enough profiled VMs can host a member within the caps; adding ${missing} VM(s) like ${like} allows ${missingShards} shard(s) × ${R}`;
  }
  explanation.push(`Infeasible: ${reason}. No member is placed above the caps.`);
  return {
    feasible: false,
    shards: missing === null ? 0 : missingShards,
    replicas: R,
    placement: [],
    predicted: {
      query_ms: round(d1.queryS * 1000, 3),
      target_query_ms: targets.query_ms,
      query_load: round(d1.rho, 4),
      ingest_cores_per_member: round(d1.ingestCores, 4),
      cpu_cores_per_member: round(d1.cpuCores, 4),
      memory_mb_per_member: round(d1.memoryMb, 1),
      samples_per_query: Math.round(samplesPerQuery),
    },
    binding,
    tradeoff: tradeoff(input, Math.max(1, missingShards), R),
    missing_vms: missing,
    explanation,
  };
}
