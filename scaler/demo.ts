import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DemoContext, DemoStep } from '../cli/demo-context';
import { formatNumber, lineChartSvg, textLineChart } from '../lib/plot';
import { formatBytes } from './cluster/cluster';
import { defaultPolicy } from './config';
import { observationToJson, type Observation } from './metrics';
import { onboardingFromEstimate } from './onboarding';
import { runPolicy } from './policy';
import { synthesize } from './synth';
import { traceToObservations } from './trace';

const STEP = 5 * 60_000;
const START = Date.parse('2026-01-05T00:00:00Z');
const CALM = 70; // below the 75% tier (with hysteresis) so only the hot samples matter
const HOT = 90;

/** A load series for the demo: per-sample CPU% of a hot shard and a calm one, with the two phases marked. */
export interface DemoSeries {
  source: string;
  hot: number[];
  calm: number[];
  /** Sample index ranges [from, to) of the spike phase and the sustained phase. */
  spike: [number, number];
  sustained: [number, number];
}

/**
 * Find, in one Bitbrains VM's CPU trace, a real isolated spike (one sample > 90% with an hour of
 * < 70% on both sides) and a real sustained overload (3–8 consecutive samples > 90%: 10–35 min,
 * preceded and followed by an hour < 70%), and splice the two windows one after the other.
 */
export function traceSegments(cpu: readonly number[]): { spike: number[]; sustained: number[] } | undefined {
  const calm = (a: number, b: number) => a >= 0 && b <= cpu.length && cpu.slice(a, b).every((v) => v < CALM);
  let spike: number[] | undefined;
  let sustained: number[] | undefined;
  for (let i = 12; i < cpu.length - 12 && !(spike && sustained); i++) {
    if (!(cpu[i]! > HOT) || !calm(i - 12, i)) continue;
    if (!spike && calm(i + 1, i + 13)) spike = cpu.slice(i - 12, i + 13);
    let j = i;
    while (j < cpu.length && cpu[j]! > HOT) j++;
    if (!sustained && j - i >= 3 && j - i <= 8 && calm(j, j + 12)) sustained = cpu.slice(i - 12, j + 12);
  }
  return spike && sustained ? { spike, sustained } : undefined;
}

const TRACE_PREFERENCE = ['66', '67', '62', '41', '195', '235', '293'];

/** Trace-derived series from the shared Bitbrains traces, or undefined when none fits. */
export function traceSeries(shared: string): DemoSeries | undefined {
  const dir = path.join(shared, 'data', 'traces', 'bitbrains-rnd');
  if (!existsSync(dir)) return undefined;
  const cpuOf = (id: string) => {
    const f = path.join(dir, `${id}.csv`);
    return existsSync(f) ? traceToObservations(readFileSync(f, 'utf8'), `vm${id}`).map((o) => o.cpu ?? 0) : [];
  };
  for (const id of TRACE_PREFERENCE) {
    const seg = traceSegments(cpuOf(id));
    if (!seg) continue;
    const hot = [...seg.spike, ...seg.sustained];
    // the other shard: a VM that stays calm over as many samples
    for (const other of TRACE_PREFERENCE.filter((x) => x !== id)) {
      const c = cpuOf(other);
      for (let k = 0; k + hot.length <= c.length; k += hot.length) {
        const w = c.slice(k, k + hot.length);
        if (w.every((v) => v < CALM)) return { source: `Bitbrains VM ${id} (spike and sustained overload, spliced) and VM ${other} (calm)`, hot, calm: w, spike: [0, seg.spike.length], sustained: [seg.spike.length, hot.length] };
      }
    }
  }
  return undefined;
}

/** Synthetic series: the `spike` scenario followed by the `sustained` one (scaler synth). */
export function syntheticSeries(): DemoSeries {
  const cpu = (scenario: 'spike' | 'sustained', shard: string) => synthesize({ scenario }).observations.filter((o) => o.shard === shard).map((o) => o.cpu ?? 0);
  const spike = cpu('spike', 'sh0');
  const sustained = cpu('sustained', 'sh0');
  return { source: 'synthetic (scaler synth: spike, then sustained)', hot: [...spike, ...sustained], calm: [...cpu('spike', 'sh1'), ...cpu('sustained', 'sh1')], spike: [0, spike.length], sustained: [spike.length, spike.length + sustained.length] };
}

export function seriesObservations(s: DemoSeries): Observation[] {
  return s.hot.flatMap((cpu, i) => [
    { t: new Date(START + i * STEP), shard: 'sh0', cpu },
    { t: new Date(START + i * STEP), shard: 'sh1', cpu: s.calm[i]! },
  ]);
}

interface DecisionJson {
  t: string;
  action: string;
  reason: string;
  count?: number;
}

const post = async <T,>(ctx: DemoContext, url: string, payload: unknown): Promise<T> => (await ctx.call('POST', url, payload as object)).json<T>();

/** A caret line under an asciichart plot pointing at sample `index`. */
function marker(chart: string, index: number, label: string): string {
  const last = chart.split('\n').at(-1) ?? '';
  const axis = Math.max(last.indexOf('┤'), last.indexOf('┼'));
  return `${' '.repeat(Math.max(0, axis + 1 + index))}^ ${label}`;
}

async function predictive(ctx: DemoContext, estimate: { bytes: { per_day: number }; events: { per_day: number } }): Promise<void> {
  // A calm 2-shard cluster on 200 GB disks, 40% used (the `onboarding` scenario's first 3 hours);
  // the stack is announced after 1 hour and its data arrives 2 hours later.
  const calm = synthesize({ scenario: 'onboarding' }).observations.filter((o) => o.t.getTime() < START + 180 * 60_000);
  const announce = new Date(START + 60 * 60_000);
  const arrives = new Date(START + 180 * 60_000);
  const line = (k: number) => ({ t: announce.toISOString(), onboarding: { arrives_at: arrives.toISOString(), bytes_per_day: estimate.bytes.per_day * k, events_per_s: (estimate.events.per_day / 86_400) * k, label: k === 1 ? 'the estimated stack' : `${formatNumber(k)} such stacks` } });
  const obs = calm.map(observationToJson);
  const evaluate = async (k: number) => (await post<{ decisions: DecisionJson[] }>(ctx, '/v1/scaler/evaluate', { series: [line(k), ...obs] })).decisions.find((d) => d.reason.startsWith('predictive'));

  const input = onboardingFromEstimate(estimate, { at: arrives, stack_id: 'demo-stack', known_at: announce });
  const reg = await post<{ trigger_at: string }>(ctx, '/v1/scaler/onboarding', input);
  ctx.say(`onboarding estimate: ${formatBytes(estimate.bytes.per_day)}/day, ${formatNumber(estimate.events.per_day / 86_400)} events/s → registered (POST /v1/scaler/onboarding), acted on at ${reg.trigger_at}`);
  const one = await evaluate(1);
  if (one) {
    ctx.say(`predictive: ${one.action}${one.count ? ` ×${one.count}` : ''} at ${one.t.slice(11, 16)} (data arrives ${arrives.toISOString().slice(11, 16)}): ${one.reason}`);
    return;
  }
  // The stack fits; find how many such stacks the cluster absorbs before a predictive scale-out.
  const series = calm;
  const scalesOut = (k: number) => runPolicy(defaultPolicy(), series, [{ t: announce, arrives_at: arrives, bytes_per_day: estimate.bytes.per_day * k, events_per_s: (estimate.events.per_day / 86_400) * k }]).some((d) => d.action === 'add-shard');
  let hi = 1;
  while (!scalesOut(hi) && hi < 1e9) hi *= 2;
  let lo = hi / 2;
  while (hi - lo > Math.max(1, hi / 100)) {
    const mid = Math.floor((lo + hi) / 2);
    if (scalesOut(mid)) hi = mid;
    else lo = mid;
  }
  ctx.say(`the stack fits the calm 2-shard cluster (200 GB disks, 40% used): no scale-out for one stack`);
  const many = await evaluate(hi);
  if (many) ctx.say(`${formatNumber(hi)} such stacks arriving at once: ${many.action}${many.count ? ` ×${many.count}` : ''} at ${many.t.slice(11, 16)}, before the data (${arrives.toISOString().slice(11, 16)}): ${many.reason}`);
}

export const scalerDemoStep: DemoStep = {
  title: 'The autoscaler: a load spike replayed through the policy',
  async run(ctx) {
    const series = (ctx.shared ? traceSeries(ctx.shared) : undefined) ?? syntheticSeries();
    ctx.say(`load: ${series.source}; ${series.hot.length} five-minute samples per shard, policy: scaler.policy (cpu > 90% for 10 min or > 75% for 1 h on any shard)`);
    const obs = seriesObservations(series);
    const r = await post<{ evaluations: number; decisions: DecisionJson[] }>(ctx, '/v1/scaler/evaluate', { series: obs.map(observationToJson) });
    const idx = (d: DecisionJson) => Math.round((Date.parse(d.t) - START) / STEP);
    const inSpike = r.decisions.filter((d) => idx(d) < series.spike[1]);
    const inSustained = r.decisions.filter((d) => idx(d) >= series.sustained[0]);
    ctx.say(`POST /v1/scaler/evaluate: ${r.evaluations} evaluations, ${r.decisions.length} action(s)`);
    for (const d of r.decisions) ctx.say(`  ${d.t.slice(11, 16)}  ${d.action}: ${d.reason}`);
    const spikePeak = Math.max(...series.hot.slice(...series.spike));
    const ok = inSpike.length === 0 && inSustained.length === 1 && inSustained[0]!.action === 'add-shard';
    ctx.say(`${inSpike.length === 0 ? '✓' : '✗'} spike (peak ${spikePeak.toFixed(0)}% for one sample): no action   ${inSustained.length === 1 && inSustained[0]!.action === 'add-shard' ? '✓' : '✗'} sustained overload: exactly one add-shard`);

    const chart = textLineChart([series.hot, series.hot.map(() => HOT)], 10);
    process.stdout.write(chart.split('\n').map((l) => `      ${l}`).join('\n') + '\n');
    for (const d of r.decisions) process.stdout.write(`      ${marker(chart, idx(d), `${d.action} (${d.t.slice(11, 16)})`)}\n`);
    ctx.say(`sh0 CPU % (and the 90% line); spike in samples 0–${series.spike[1] - 1}, sustained load from ${series.sustained[0]}`);
    const svg = lineChartSvg({
      title: 'Autoscaler replay: shard CPU and the scale-out decision',
      xLabel: 'time (5-minute samples)',
      yLabel: 'CPU %',
      width: 900,
      height: 380,
      series: [
        { name: 'sh0 cpu %', points: series.hot.map((y, i) => ({ x: new Date(START + i * STEP), y })) },
        { name: 'sh1 cpu %', points: series.calm.map((y, i) => ({ x: new Date(START + i * STEP), y })) },
        ...r.decisions.map((d) => ({ name: `${d.action} ${d.t.slice(11, 16)}`, points: [{ x: new Date(d.t), y: 0 }, { x: new Date(d.t), y: 100 }] })),
      ],
    });
    const file = path.join(ctx.outDir, 'scaler-replay.svg');
    writeFileSync(file, svg);
    ctx.say(`chart: ${path.relative(process.cwd(), file)}`);

    const cluster = (await ctx.call('GET', '/v1/cluster')).json() as {
      topology: { kind: string; server: string; version?: string };
      sharded: boolean;
      note?: string;
      shards: { name: string; ownedBytes: number }[];
      storage?: { dataBytes: number; objects: number };
      shardCount: number;
      policy: { minShards: number; maxShards: number };
      balancer?: { mode: string };
    };
    ctx.say(`GET /v1/cluster: ${cluster.topology.kind} (${cluster.topology.server}${cluster.topology.version ? ` ${cluster.topology.version}` : ''}), ${cluster.shardCount} shard(s) of ${cluster.policy.minShards}–${cluster.policy.maxShards}${cluster.balancer ? `, balancer ${cluster.balancer.mode}` : ''}${cluster.storage ? `; metering db ${formatBytes(cluster.storage.dataBytes)} in ${formatNumber(cluster.storage.objects)} documents` : ''}`);
    for (const s of cluster.shards) ctx.say(`  ${s.name}: ${formatBytes(s.ownedBytes)}`);
    const real = cluster.sharded && cluster.topology.server !== 'stand-in';
    ctx.say(
      real
        ? 'tier: actuated — mongos present; the control loop (scaler.loop.enabled, actuate) carries decisions out with addShard/removeShard'
        : ctx.services.mongoTier === 'standin' || cluster.topology.server === 'stand-in'
          ? 'tier: replayed: the stand-in has no sharding (set MONGO_BIN_DIR for a real cluster)'
          : `tier: replayed: ${cluster.note ?? 'no mongos'}`,
    );

    const estimate = ctx.state.get('estimate') as { bytes?: { per_day?: number }; events?: { per_day?: number } } | undefined;
    if (estimate?.bytes?.per_day !== undefined && estimate.events?.per_day !== undefined) await predictive(ctx, { bytes: { per_day: estimate.bytes.per_day }, events: { per_day: estimate.events.per_day } });
    if (!ok) throw new Error(`expected no action for the spike and exactly one add-shard for the sustained load; got ${r.decisions.map((d) => `${d.action}@${d.t}`).join(', ') || 'none'}`);
  },
};
