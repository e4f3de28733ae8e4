import type { HighRule, LowRule, PolicyConfig, RuleMetric } from './config';
import { formatDuration } from './duration';
import type { Observation, OnboardingEstimate } from './metrics';

export const ACTIONS = ['add-shard', 'add-replica', 'remove-shard', 'none'] as const;
export type Action = (typeof ACTIONS)[number];

/** One evaluation of the policy. `shard` names the target of add-replica / remove-shard. */
export interface Decision {
  t: Date;
  action: Action;
  reason: string;
  shard?: string;
  /** Shards to add at once (predictive scale-out may need more than one), or members to add (add-replica); 1 when absent. */
  count?: number;
  /** add-replica: the new member(s) get no vote (votes 0, priority 0) so the voting members stay odd. */
  nonVoting?: boolean;
  /** What the decision was based on (logged and stored with it). */
  inputs: Record<string, unknown>;
}

/** Per shard and metric: last point plus the start of the current hot / cool run for each rule. */
interface MetricState {
  lastT: number;
  last: number;
  hot: Map<number, number>; // scale-out rule index → run start (ms)
  cool: Map<number, number>; // scale-in rule index → run start (ms)
}

interface ShardState {
  lastSeen: number;
  metrics: Map<RuleMetric | 'reads_per_s' | 'writes_per_s' | 'disk_total_bytes', MetricState>;
  /** Recent (t, reads, writes) points for the read/write ratio over a window. */
  rw: { t: number; r: number; w: number }[];
  members: number;
  /** Voting members (the rest are non-voting read members added to keep an odd voting count). */
  voters: number;
}

const RULE_METRIC_SET = new Set<string>(['cpu', 'memory', 'disk', 'query_ms']);

/** A copy of everything a `ScalerPolicy` remembers (`snapshot` / `restore`); opaque to callers. */
export interface PolicyState {
  readonly shards: Map<string, ShardState>;
  readonly pendingOnboarding: OnboardingEstimate[];
  readonly lastEval: number;
  readonly lastAction: number;
  readonly lastScaleOut: number;
  readonly lastScaleIn: number;
  readonly pendingDelta: number;
  readonly streak: number;
  readonly lastObservedCount: number;
  readonly late: number;
}

/**
 * The autoscaling state machine. Feed observations in time order with `observe`, onboarding
 * estimates with `onboard`, and call `evaluate(t)` after the observations of instant `t`; it returns
 * one decision. Pure: no clock, no I/O. `runPolicy` does all of this for a whole recorded series.
 *
 * Semantics (docs/scaler.md has the full story):
 * - a scale-out rule holds on a shard when every observation of its metric since the run start is
 *   above the threshold (with hysteresis), the run is at least `for` long and has no gap > maxGap;
 * - scale out if ANY fresh shard has a holding rule; add a replica instead of a shard when the hot
 *   shards are read-heavy (and not disk-bound);
 * - scale in only if ALL fresh shards hold every applicable scale-in rule, no known shard is stale,
 *   and the projected load after removing one shard stays below projectedMaxAfterScaleIn;
 * - every action restarts all sustained windows (the load must persist after the action).
 */
export class ScalerPolicy {
  private readonly shards = new Map<string, ShardState>();
  private readonly pendingOnboarding: OnboardingEstimate[] = [];
  private lastEval = -Infinity;
  private lastAction = -Infinity;
  private lastScaleOut = -Infinity;
  private lastScaleIn = -Infinity;
  private pendingDelta = 0;
  /** Scale-outs since the load last dropped below every scale-out threshold. */
  private streak = 0;
  private lastObservedCount = 0;
  private readonly longestWindow: number;
  /** Observations older than the last evaluation (ignored; see docs). */
  late = 0;

  constructor(readonly config: PolicyConfig) {
    this.longestWindow = Math.max(...config.scaleOut.map((r) => r.for), ...config.scaleIn.map((r) => r.for));
  }

  /**
   * A deep copy of the policy's state (windows, cooldowns, pending onboarding, counted shards and
   * replica members). With `restore` a caller undoes an evaluation whose decision was never stored
   * (the control loop, when the cluster fence refuses the round): the policy then remembers nothing of it.
   */
  snapshot(): PolicyState {
    return structuredClone({
      shards: this.shards,
      pendingOnboarding: this.pendingOnboarding,
      lastEval: this.lastEval,
      lastAction: this.lastAction,
      lastScaleOut: this.lastScaleOut,
      lastScaleIn: this.lastScaleIn,
      pendingDelta: this.pendingDelta,
      streak: this.streak,
      lastObservedCount: this.lastObservedCount,
      late: this.late,
    });
  }

  /** Put back a state taken with `snapshot` (the snapshot itself stays usable). */
  restore(state: PolicyState): void {
    const s = structuredClone(state);
    this.shards.clear();
    for (const [name, shard] of s.shards) this.shards.set(name, shard);
    this.pendingOnboarding.splice(0, this.pendingOnboarding.length, ...s.pendingOnboarding);
    this.lastEval = s.lastEval;
    this.lastAction = s.lastAction;
    this.lastScaleOut = s.lastScaleOut;
    this.lastScaleIn = s.lastScaleIn;
    this.pendingDelta = s.pendingDelta;
    this.streak = s.streak;
    this.lastObservedCount = s.lastObservedCount;
    this.late = s.late;
  }

  /** Absorb one observation. Points older than the last evaluation are counted in `late` and ignored. */
  observe(o: Observation): void {
    const t = o.t.getTime();
    if (!Number.isFinite(t)) throw new Error(`observation for shard ${o.shard} has an invalid time`);
    if (t < this.lastEval) {
      this.late++;
      return;
    }
    let s = this.shards.get(o.shard);
    if (!s) {
      s = { lastSeen: t, metrics: new Map(), rw: [], members: this.config.readHeavy.initialMembers, voters: this.config.readHeavy.initialMembers };
      this.shards.set(o.shard, s);
    }
    s.lastSeen = Math.max(s.lastSeen, t);
    for (const m of ['cpu', 'memory', 'disk', 'query_ms', 'reads_per_s', 'writes_per_s', 'disk_total_bytes'] as const) {
      const v = o[m];
      if (v === undefined || !Number.isFinite(v)) continue;
      this.update(s, m, t, v);
    }
    if (o.reads_per_s !== undefined || o.writes_per_s !== undefined) {
      s.rw.push({ t, r: o.reads_per_s ?? 0, w: o.writes_per_s ?? 0 });
      const cutoff = t - this.longestWindow - this.config.maxGap;
      while (s.rw.length > 0 && s.rw[0]!.t < cutoff) s.rw.shift();
    }
  }

  /** Register an onboarding estimate; it is acted on at arrives_at − leadTime (or when known, if later). */
  onboard(e: OnboardingEstimate): void {
    this.pendingOnboarding.push(e);
    this.pendingOnboarding.sort((a, b) => triggerTime(a, this.config) - triggerTime(b, this.config));
  }

  private update(s: ShardState, m: RuleMetric | 'reads_per_s' | 'writes_per_s' | 'disk_total_bytes', t: number, v: number): void {
    let st = s.metrics.get(m);
    if (!st) {
      st = { lastT: t, last: v, hot: new Map(), cool: new Map() };
      s.metrics.set(m, st);
    } else if (t - st.lastT > this.config.maxGap) {
      // a gap breaks every sustained window of this metric
      st.hot.clear();
      st.cool.clear();
    }
    if (t >= st.lastT) {
      st.lastT = t;
      st.last = v;
    }
    if (!RULE_METRIC_SET.has(m)) return;
    const h = this.config.hysteresis;
    this.config.scaleOut.forEach((r, i) => {
      if (r.metric !== m) return;
      const active = st.hot.has(i);
      const over = active ? v > r.above * (1 - h) : v > r.above;
      if (over) {
        if (!active) st.hot.set(i, t);
      } else st.hot.delete(i);
    });
    this.config.scaleIn.forEach((r, i) => {
      if (r.metric !== m) return;
      const active = st.cool.has(i);
      const under = active ? v < r.below * (1 + h) : v < r.below;
      if (under) {
        if (!active) st.cool.set(i, t);
      } else st.cool.delete(i);
    });
  }

  /** Evaluate the policy at instant `at` (after feeding the observations up to it). */
  evaluate(at: Date): Decision {
    const T = at.getTime();
    this.lastEval = Math.max(this.lastEval, T);
    const cfg = this.config;
    const fresh = [...this.shards.entries()].filter(([, s]) => T - s.lastSeen <= cfg.maxGap);
    const stale = [...this.shards.entries()].filter(([, s]) => T - s.lastSeen > cfg.maxGap && T - s.lastSeen <= this.longestWindow);
    const observed = fresh.length;
    // reconcile decisions not yet visible in the data (e.g. a shard being added)
    if (this.pendingDelta > 0 && observed > this.lastObservedCount) this.pendingDelta = Math.max(0, this.pendingDelta - (observed - this.lastObservedCount));
    if (this.pendingDelta < 0 && observed < this.lastObservedCount) this.pendingDelta = Math.min(0, this.pendingDelta + (this.lastObservedCount - observed));
    this.lastObservedCount = observed;
    const shardCount = observed + this.pendingDelta;
    const snapshot = Object.fromEntries(fresh.map(([name, s]) => [name, latest(s)]));
    const base = { shardCount, shards: snapshot };

    // 1. predictive scale-out for onboarding estimates that are due
    const due = this.pendingOnboarding.findIndex((e) => triggerTime(e, cfg) <= T);
    if (cfg.predictive.enabled && due >= 0 && observed > 0) {
      const e = this.pendingOnboarding.splice(due, 1)[0]!;
      const d = this.predictive(at, e, fresh, shardCount, base);
      if (d.action !== 'none') this.acted(T, d);
      return d;
    }

    // 2. reactive scale-out: ANY fresh shard hot
    const over = fresh.some(([, s]) => [...s.metrics.values()].some((st) => st.hot.size > 0 && T - st.lastT <= cfg.maxGap));
    if (!over) this.streak = 0;
    const hot: { shard: string; rule: HighRule; since: number; value: number }[] = [];
    for (const [name, s] of fresh) {
      cfg.scaleOut.forEach((r, i) => {
        const st = s.metrics.get(r.metric);
        const start = st?.hot.get(i);
        if (st === undefined || start === undefined || T - st.lastT > cfg.maxGap) return;
        // the observations themselves must span the window (a single old point does not)
        if (st.lastT - Math.max(start, this.lastAction) >= r.for) hot.push({ shard: name, rule: r, since: start, value: st.last });
      });
    }
    if (hot.length > 0) {
      const first = hot[0]!;
      const what = `${first.shard} ${first.rule.metric} ${fmt(first.value)} > ${first.rule.above} for ${formatDuration(first.rule.for)}`;
      const inputs = { ...base, hot: hot.map((h) => ({ shard: h.shard, metric: h.rule.metric, above: h.rule.above, for: formatDuration(h.rule.for), value: h.value, since: new Date(h.since).toISOString() })) };
      const cooldown = Math.min(cfg.cooldown.afterScaleOut * cfg.cooldown.backoff ** Math.max(0, this.streak - 1), Math.max(cfg.cooldown.maxScaleOutCooldown, cfg.cooldown.afterScaleOut));
      if (T - this.lastScaleOut < cooldown)
        return none(at, `hot (${what}) but within scale-out cooldown (${formatDuration(cooldown)}${this.streak > 1 ? `, backed off: still hot after ${this.streak} scale-outs` : ''}) until ${new Date(this.lastScaleOut + cooldown).toISOString()}`, inputs);
      if (T - this.lastScaleIn < cfg.cooldown.scaleOutAfterScaleIn)
        return none(at, `hot (${what}) but within the post-scale-in cooldown until ${new Date(this.lastScaleIn + cfg.cooldown.scaleOutAfterScaleIn).toISOString()}`, inputs);
      // read-heavy: every hot shard is CPU/memory/latency-bound (not disk) with reads ≫ writes
      const hotShards = [...new Set(hot.map((h) => h.shard))];
      const readHeavy = hotShards.map((name) => ({ name, ...this.readRatio(this.shards.get(name)!, T, Math.max(...hot.filter((h) => h.shard === name).map((h) => h.rule.for))) }));
      const allReadHeavy = hot.every((h) => h.rule.metric !== 'disk') && readHeavy.every((r) => r.readHeavy);
      if (allReadHeavy) {
        const target = readHeavy.find((r) => this.shards.get(r.name)!.members < cfg.readHeavy.maxMembersPerShard);
        if (target) {
          const s = this.shards.get(target.name)!;
          const growth = replicaGrowth(s.members, s.voters, cfg.readHeavy.maxMembersPerShard);
          const d: Decision = {
            t: at,
            action: 'add-replica',
            shard: target.name,
            reason: `${what}; read-heavy (reads/writes ${fmtRatio(target.ratio)} ≥ ${cfg.readHeavy.ratio}): ${growth.text.replace('{shard}', target.name)}`,
            inputs: { ...inputs, readRatio: target.ratio, replica: { members: [s.members, s.members + growth.add], voting: [s.voters, s.voters + (growth.voting ? growth.add : 0)] } },
            ...(growth.add > 1 ? { count: growth.add } : {}),
            ...(growth.voting ? {} : { nonVoting: true }),
          };
          s.members += growth.add;
          if (growth.voting) s.voters += growth.add;
          this.acted(T, d);
          return d;
        }
      }
      if (shardCount >= cfg.maxShards) return none(at, `hot (${what}) but already at maxShards ${cfg.maxShards}`, inputs);
      const d: Decision = {
        t: at,
        action: 'add-shard',
        reason: `${what}${hot.length > 1 ? ` (+${hot.length - 1} more hot rule(s))` : ''}: add a shard (${shardCount} → ${shardCount + 1})`,
        inputs,
      };
      this.acted(T, d);
      return d;
    }

    // 3. scale-in: ALL shards cool for the (longer) low windows
    if (observed === 0) return none(at, 'no fresh observations', base);
    if (shardCount <= cfg.minShards) return none(at, `steady (${shardCount} shard(s), minShards ${cfg.minShards})`, base);
    const warm: string[] = [];
    for (const [name, s] of fresh) {
      let applicable = 0;
      let cool = true;
      cfg.scaleIn.forEach((r: LowRule, i) => {
        const st = s.metrics.get(r.metric);
        if (!st) return; // metric never reported by this shard: rule not applicable
        applicable++;
        const start = st.cool.get(i);
        if (start === undefined || T - st.lastT > cfg.maxGap || st.lastT - Math.max(start, this.lastAction) < r.for) cool = false;
      });
      if (!cool || applicable === 0) warm.push(name);
    }
    if (warm.length > 0) return none(at, `steady (not all shards cool: ${warm.slice(0, 3).join(', ')}${warm.length > 3 ? ', …' : ''})`, base);
    if (stale.length > 0) return none(at, `all reporting shards cool, but ${stale.map(([n]) => n).join(', ')} stopped reporting: not scaling in`, base);
    if (observed < 2) return none(at, 'all shards cool, but only one shard reports', base);
    const factor = observed / (observed - 1);
    for (const m of ['cpu', 'memory', 'disk'] as const) {
      const peak = Math.max(...fresh.map(([, s]) => s.metrics.get(m)?.last ?? 0));
      if (peak * factor >= cfg.projectedMaxAfterScaleIn)
        return none(at, `all shards cool, but projected ${m} after removing a shard ${fmt(peak * factor)}% ≥ ${cfg.projectedMaxAfterScaleIn}%`, base);
    }
    if (T - this.lastScaleIn < cfg.cooldown.afterScaleIn)
      return none(at, `all shards cool, but within scale-in cooldown until ${new Date(this.lastScaleIn + cfg.cooldown.afterScaleIn).toISOString()}`, base);
    if (T - this.lastScaleOut < cfg.cooldown.scaleInAfterScaleOut)
      return none(at, `all shards cool, but a scale-out happened less than ${formatDuration(cfg.cooldown.scaleInAfterScaleOut)} ago`, base);
    // drain the shard with the least data (fastest removeShard), then the least busy
    const victim = [...fresh].sort(([an, a], [bn, b]) => (a.metrics.get('disk')?.last ?? 0) - (b.metrics.get('disk')?.last ?? 0) || (a.metrics.get('cpu')?.last ?? 0) - (b.metrics.get('cpu')?.last ?? 0) || bn.localeCompare(an))[0]!;
    const longest = Math.max(...cfg.scaleIn.map((r) => r.for));
    const d: Decision = {
      t: at,
      action: 'remove-shard',
      shard: victim[0],
      reason: `all ${observed} reporting shards cool for ≥ ${formatDuration(longest)} (${cfg.scaleIn.map((r) => `${r.metric} < ${r.below}`).join(', ')}); projected peak after removal < ${cfg.projectedMaxAfterScaleIn}%: drain ${victim[0]} (${shardCount} → ${shardCount - 1})`,
      inputs: base,
    };
    this.acted(T, d);
    return d;
  }

  private predictive(at: Date, e: OnboardingEstimate, fresh: [string, ShardState][], shardCount: number, base: Record<string, unknown>): Decision {
    const cfg = this.config;
    const label = e.label ? `onboarding ${e.label}` : 'onboarding estimate';
    const n = Math.max(shardCount, 1);
    const inputs: Record<string, unknown> = { ...base, onboarding: { t: e.t.toISOString(), arrives_at: e.arrives_at.toISOString(), bytes_per_day: e.bytes_per_day, events_per_s: e.events_per_s } };
    const notes: string[] = [];
    let needed = n;
    // storage: (used bytes + horizon's new bytes) spread over n' shards must stay under the disk threshold
    const diskHigh = Math.min(...cfg.scaleOut.filter((r) => r.metric === 'disk').map((r) => r.above), Infinity);
    const withDisk = fresh.filter(([, s]) => s.metrics.has('disk'));
    if (Number.isFinite(diskHigh) && withDisk.length > 0) {
      const caps = withDisk.map(([, s]) => s.metrics.get('disk_total_bytes')?.last ?? cfg.predictive.shardDiskBytes);
      if (caps.every((c): c is number => c !== undefined)) {
        const used = withDisk.reduce((acc, [, s], i) => acc + (s.metrics.get('disk')!.last / 100) * caps[i]!, 0);
        const cap = caps.reduce((a, b) => a + b, 0) / caps.length;
        const added = e.bytes_per_day * (cfg.predictive.horizon / 86_400_000);
        const pct = (k: number) => ((used + added) / (k * cap)) * 100;
        let k = n;
        while (pct(k) >= diskHigh && k < 10_000) k++;
        inputs.projectedDisk = { now: fmt(pct(n)), threshold: diskHigh, horizon: formatDuration(cfg.predictive.horizon) };
        notes.push(`disk in ${formatDuration(cfg.predictive.horizon)} ${fmt(pct(n))}% on ${n} shard(s)`);
        needed = Math.max(needed, k);
      } else notes.push('storage projection skipped (no disk_total_bytes / shardDiskBytes)');
    }
    // load: current CPU plus the new events' CPU cost, spread over n' shards, must stay under the lowest CPU tier
    const cpuHigh = Math.min(...cfg.scaleOut.filter((r) => r.metric === 'cpu').map((r) => r.above), Infinity);
    const withCpu = fresh.filter(([, s]) => s.metrics.has('cpu'));
    if (Number.isFinite(cpuHigh) && withCpu.length > 0 && e.events_per_s > 0) {
      const cpuSum = withCpu.reduce((a, [, s]) => a + s.metrics.get('cpu')!.last, 0);
      const writes = withCpu.reduce((a, [, s]) => a + (s.metrics.get('writes_per_s')?.last ?? 0), 0);
      const perEvent = cfg.predictive.cpuPercentPerEventPerSec ?? (writes > 0 ? cpuSum / writes : undefined);
      if (perEvent !== undefined) {
        const extra = e.events_per_s * perEvent;
        const pct = (k: number) => (cpuSum + extra) / k;
        let k = n;
        while (pct(k) >= cpuHigh && k < 10_000) k++;
        inputs.projectedCpu = { now: fmt(pct(n)), threshold: cpuHigh, cpuPercentPerEventPerSec: perEvent };
        notes.push(`cpu ${fmt(pct(n))}% on ${n} shard(s)`);
        needed = Math.max(needed, k);
      } else notes.push('load projection skipped (no writes_per_s to derive the cost of an event)');
    }
    const add = Math.min(needed, cfg.maxShards) - n;
    const when = `data arrives ${e.arrives_at.toISOString()}`;
    if (needed <= n) return none(at, `${label} fits (${notes.join('; ')}); ${when}`, inputs);
    if (add <= 0) return none(at, `${label} needs ${needed} shards but maxShards is ${cfg.maxShards} (${notes.join('; ')})`, inputs);
    return {
      t: at,
      action: 'add-shard',
      count: add,
      reason: `predictive: ${label} would exceed thresholds (${notes.join('; ')}); add ${add} shard(s) before ${when} (${n} → ${n + add})`,
      inputs,
    };
  }

  private readRatio(s: ShardState, T: number, window: number): { ratio: number; readHeavy: boolean } {
    const pts = s.rw.filter((p) => p.t >= T - window && p.t <= T);
    const reads = pts.reduce((a, p) => a + p.r, 0) / Math.max(pts.length, 1);
    const writes = pts.reduce((a, p) => a + p.w, 0) / Math.max(pts.length, 1);
    const ratio = writes > 0 ? reads / writes : reads > 0 ? Infinity : 0;
    return { ratio, readHeavy: pts.length > 0 && reads >= this.config.readHeavy.minReadsPerSec && ratio >= this.config.readHeavy.ratio };
  }

  /**
   * Actions taken before this policy existed (by this controller before a restart, or by another that
   * led the scaler before it: cluster/): their cooldowns and the restart of the sustained windows apply
   * here too, so a hand-over never repeats an action the cooldown would have held back.
   */
  recall(actions: ReadonlyArray<{ t: Date; action: Action }>): void {
    for (const a of actions) {
      const T = a.t.getTime();
      if (a.action === 'none' || !Number.isFinite(T)) continue;
      this.lastAction = Math.max(this.lastAction, T);
      if (a.action === 'add-shard' || a.action === 'add-replica') this.lastScaleOut = Math.max(this.lastScaleOut, T);
      else if (a.action === 'remove-shard') this.lastScaleIn = Math.max(this.lastScaleIn, T);
    }
  }

  private acted(T: number, d: Decision): void {
    this.lastAction = T;
    if (d.action === 'add-shard') {
      this.lastScaleOut = T;
      this.pendingDelta += d.count ?? 1;
      this.streak++;
    } else if (d.action === 'add-replica') {
      this.lastScaleOut = T;
      this.streak++;
    }
    else if (d.action === 'remove-shard') {
      this.lastScaleIn = T;
      this.pendingDelta -= 1;
    }
  }
}

/**
 * How to grow a shard's replica set by the fewest members that keep the voting members odd: an even
 * voting set needs all but one fewer members for a majority than it has (2 of 2: majority writes and
 * elections stop when either member is down). Odd voters → two voting members when room allows
 * (1 → 3, 3 → 5), else one non-voting member (votes 0, priority 0) that serves reads only; even
 * voters (a configured start of 2 or 4) → one voting member. Pure.
 */
export function replicaGrowth(members: number, voters: number, maxMembers: number): { add: number; voting: boolean; text: string } {
  if (voters % 2 === 0) return { add: 1, voting: true, text: `add a voting secondary to {shard} (${members} → ${members + 1} members, ${voters} → ${voters + 1} voting: odd again)` };
  if (members + 2 <= maxMembers)
    return { add: 2, voting: true, text: `add two voting secondaries to {shard} (${members} → ${members + 2} members, ${voters} → ${voters + 2} voting: an odd set keeps a majority when one member is down; ${voters + 1} would need all of them)` };
  return {
    add: 1,
    voting: false,
    text: `add a non-voting secondary to {shard} (${members} → ${members + 1} members, voting stays ${voters}: room for one member only under maxMembersPerShard ${maxMembers}, and a vote would make the voting set even)`,
  };
}

function triggerTime(e: OnboardingEstimate, cfg: PolicyConfig): number {
  return Math.max(e.t.getTime(), e.arrives_at.getTime() - cfg.predictive.leadTime);
}

function latest(s: ShardState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [m, st] of s.metrics) out[m] = st.last;
  return out;
}

const none = (t: Date, reason: string, inputs: Record<string, unknown>): Decision => ({ t, action: 'none', reason, inputs });
const fmt = (v: number): string => (Math.round(v * 10) / 10).toString();
const fmtRatio = (v: number): string => (Number.isFinite(v) ? fmt(v) : '∞');

/**
 * Replay a recorded series: sorts observations by time (out-of-order input is fine), merges points
 * of the same shard and instant, and evaluates once per distinct instant. Returns every evaluation.
 */
export function runPolicy(config: PolicyConfig, observations: readonly Observation[], onboarding: readonly OnboardingEstimate[] = []): Decision[] {
  const policy = new ScalerPolicy(config);
  for (const e of onboarding) policy.onboard(e);
  const sorted = observations.map((o, i) => ({ o, i })).sort((a, b) => a.o.t.getTime() - b.o.t.getTime() || a.i - b.i);
  const out: Decision[] = [];
  let k = 0;
  while (k < sorted.length) {
    const t = sorted[k]!.o.t.getTime();
    const merged = new Map<string, Observation>();
    for (; k < sorted.length && sorted[k]!.o.t.getTime() === t; k++) {
      const o = sorted[k]!.o;
      merged.set(o.shard, { ...merged.get(o.shard), ...o });
    }
    for (const o of merged.values()) policy.observe(o);
    out.push(policy.evaluate(new Date(t)));
  }
  return out;
}

/** The decision as printed by `scaler replay`: t, action, reason (+ shard / count when set). */
export function decisionLine(d: Decision): Record<string, unknown> {
  return { t: d.t.toISOString(), action: d.action, reason: d.reason, ...(d.shard ? { shard: d.shard } : {}), ...(d.count && d.count > 1 ? { count: d.count } : {}) };
}
