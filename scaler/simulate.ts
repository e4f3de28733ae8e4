import type { PolicyConfig } from './config';
import type { Observation } from './metrics';
import { ScalerPolicy, type Decision } from './policy';
import { prng } from '../lib/random';

/**
 * Closed-loop simulation: a demand series (CPU percent of ONE shard's capacity, e.g. the sum of
 * several Bitbrains VM traces) is served by n shards behind an even (hashed) shard key, so each
 * shard runs at demand / n. The policy sees those per-shard observations; its decisions change n
 * after a provisioning (add) or draining (remove) delay. Replays are open-loop (the metrics never
 * react); this is how to compare policies on cost and overload.
 */
export interface SimOptions {
  demand: readonly { t: Date; cpu: number }[];
  initialShards: number;
  /** Time from add-shard decision until the new shard carries its share (start + balance). */
  addDelayMs: number;
  /** Time from remove-shard decision until the shard is gone (drain). */
  removeDelayMs: number;
  /** Per-shard noise (fraction, default 0.03): shards are never perfectly even. */
  noise?: number;
  seed?: number;
}

export interface SimResult {
  decisions: Decision[];
  /** Shard count over time (one entry per step). */
  shards: number[];
  /** Σ shards × step, in shard-hours (the cost). */
  shardHours: number;
  /** Minutes during which the busiest shard was above 90% CPU. */
  overloadMinutes: number;
  /** Minutes above 75%. */
  hotMinutes: number;
  actions: { add: number; remove: number };
  /** A scale-in followed by a scale-out (or vice versa) within 24 h. */
  flaps: number;
  maxShards: number;
}

export function simulate(policy: PolicyConfig, o: SimOptions): SimResult {
  const p = new ScalerPolicy(policy);
  const rnd = prng(o.seed ?? 1);
  const noise = o.noise ?? 0.03;
  let names = Array.from({ length: o.initialShards }, (_, i) => `sh${i}`);
  let nextIndex = names.length;
  const pending: { at: number; kind: 'add' | 'remove'; shard?: string }[] = [];
  const decisions: Decision[] = [];
  const shards: number[] = [];
  let shardMs = 0;
  let overloadMs = 0;
  let hotMs = 0;
  let maxShards = names.length;
  const acts: { t: number; dir: 1 | -1 }[] = [];
  for (let i = 0; i < o.demand.length; i++) {
    const { t, cpu } = o.demand[i]!;
    const T = t.getTime();
    for (let k = pending.length - 1; k >= 0; k--) {
      const ev = pending[k]!;
      if (ev.at > T) continue;
      pending.splice(k, 1);
      if (ev.kind === 'add') names.push(`sh${nextIndex++}`);
      else if (names.length > 1) names = names.filter((n) => n !== ev.shard);
    }
    maxShards = Math.max(maxShards, names.length);
    const per = cpu / names.length;
    const obs: Observation[] = names.map((shard) => ({ t, shard, cpu: Math.min(100, Math.max(0, per * (1 + (rnd() - 0.5) * 2 * noise))) }));
    for (const ob of obs) p.observe(ob);
    const d = p.evaluate(t);
    if (d.action === 'add-shard') {
      for (let c = 0; c < (d.count ?? 1); c++) pending.push({ at: T + o.addDelayMs, kind: 'add' });
      acts.push({ t: T, dir: 1 });
    } else if (d.action === 'remove-shard') {
      pending.push({ at: T + o.removeDelayMs, kind: 'remove', shard: d.shard });
      acts.push({ t: T, dir: -1 });
    }
    if (d.action !== 'none') decisions.push(d);
    const step = i + 1 < o.demand.length ? o.demand[i + 1]!.t.getTime() - T : 0;
    const peak = Math.max(...obs.map((x) => x.cpu!));
    shards.push(names.length);
    shardMs += names.length * step;
    if (peak > 90) overloadMs += step;
    if (peak > 75) hotMs += step;
  }
  let flaps = 0;
  for (let k = 1; k < acts.length; k++) if (acts[k]!.dir !== acts[k - 1]!.dir && acts[k]!.t - acts[k - 1]!.t < 86_400_000) flaps++;
  return {
    decisions,
    shards,
    shardHours: shardMs / 3_600_000,
    overloadMinutes: overloadMs / 60_000,
    hotMinutes: hotMs / 60_000,
    actions: { add: acts.filter((a) => a.dir === 1).length, remove: acts.filter((a) => a.dir === -1).length },
    flaps,
    maxShards,
  };
}

/** Sum several per-VM observation series into one demand series (aligned on a fixed step grid). */
export function demandFromObservations(obs: readonly Observation[], stepMs = 300_000): { t: Date; cpu: number }[] {
  const byVm = new Map<string, Map<number, number>>();
  let min = Infinity;
  let max = -Infinity;
  for (const o of obs) {
    if (o.cpu === undefined) continue;
    const slot = Math.floor(o.t.getTime() / stepMs) * stepMs;
    min = Math.min(min, slot);
    max = Math.max(max, slot);
    let m = byVm.get(o.shard);
    if (!m) byVm.set(o.shard, (m = new Map()));
    m.set(slot, o.cpu);
  }
  const out: { t: Date; cpu: number }[] = [];
  const last = new Map<string, number>();
  for (let s = min; s <= max; s += stepMs) {
    let sum = 0;
    for (const [vm, m] of byVm) {
      const v = m.get(s) ?? last.get(vm) ?? 0; // carry the last value over missed samples
      last.set(vm, v);
      sum += v;
    }
    out.push({ t: new Date(s), cpu: sum });
  }
  return out;
}
