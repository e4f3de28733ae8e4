import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BSON } from 'mongodb';
import type { DemoContext, DemoStep } from '../cli/demo-context';
import { lineChartSvg, textBars, textLineChart, type Series } from '../lib/plot';
import type { Sample } from '../pipeline/sample';
import { readBitbrains } from './bitbrains';
import type { ProfilerModule } from './module';
import type { QueueEntry } from './queues';
import type { SetupRecommendation } from './recommend';
import { TraceSampler } from './trace-samples';

/**
 * Demo chapter: the live profiler. The replay step (pipeline/replay/) has fed Bitbrains traces through
 * ingestion (`state['replay.vms']`); without it this step feeds the last 12 h of a mix of small and
 * large Bitbrains VMs through `ingestor.submit` itself. Then: the utilisation queue from
 * `/v1/queues`, a terminal chart of CPU utilisation, the predictor's recommendation from
 * `/v1/predictor/recommendation`, and an SVG of CPU over time for the top VMs in the output directory.
 */

/** Small (1 vCPU / 4 GiB) and large (8–512 GiB) VMs of the trace set, idle and busy ones. */
export const DEMO_VMS = ['27', '235', '130', '293', '219', '195', '332', '62', '41', '184', '174', '214'];
/** Rows fed per VM when this step feeds the traces itself: 144 × 5 min = 12 h. */
const DEMO_ROWS = 144;
/** Samples a Bitbrains VM yields per 5-minute poll (TraceSampler: 9 meters). */
const SAMPLES_PER_POLL = 9;
const POLL_S = 300;

const call = async <T,>(ctx: DemoContext, method: 'GET' | 'POST', url: string, payload?: object): Promise<T> => (await ctx.call(method, url, payload)).json<T>();

/** Feeds the last `rows` polled rows of each trace through ingestion; returns the average stored sample size. */
async function feedTraces(ctx: DemoContext, dir: string, names: string[], rows: number): Promise<{ samples: number; avgBytes: number }> {
  let samples = 0;
  let bytes = 0;
  for (const name of names) {
    const all = [];
    for await (const row of readBitbrains(path.join(dir, `${name}.csv`))) all.push(row);
    const sampler = new TraceSampler(name);
    const batch: Sample[] = [];
    for (const row of all.slice(-rows)) batch.push(...sampler.samples(row));
    // One ingestion batch per submit, awaited: concurrent batches may be stored (and observed) out of
    // order, and the profiler drops a sample older than the last one it accepted for that VM.
    const chunk = ctx.app.services.config.ingest.batchMaxSamples;
    for (let i = 0; i < batch.length; i += chunk) await ctx.app.ingestion.ingestor.submit(batch.slice(i, i + chunk));
    samples += batch.length;
    for (const s of batch.slice(0, 50)) bytes += BSON.calculateObjectSize(s as unknown as Record<string, unknown>);
  }
  return { samples, avgBytes: bytes / Math.min(samples, names.length * 50) };
}

/** Average BSON size of one poll's samples of a trace VM (for the replayed volume). */
async function sampleBytes(dir: string | undefined, name: string): Promise<number> {
  if (!dir) return 1150; // the paper's observed average event size, used only when no trace is at hand
  for await (const row of readBitbrains(path.join(dir, `${name}.csv`))) {
    const s = new TraceSampler(name).samples(row);
    if (s.length) return s.reduce((a, x) => a + BSON.calculateObjectSize(x as unknown as Record<string, unknown>), 0) / s.length;
  }
  return 1150;
}

const fmt = (x: number | null, d = 1) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));

export const profilerDemoStep: DemoStep = {
  title: 'Resource profiler: live VM utilisation queues and the predictor\'s placement of the metering store',
  async run(ctx) {
    const mod = ctx.app.modules.find((m) => m.name === 'profiler') as ProfilerModule | undefined;
    if (!mod) throw new Error('the profiler module is not part of the running product (app/modules.ts)');
    const traceDir = ctx.shared ? path.join(ctx.shared, 'data', 'traces', 'bitbrains-rnd') : undefined;

    let vms = ctx.state.get('replay.vms') as string[] | undefined;
    let avgBytes: number;
    if (vms && vms.length) {
      ctx.say(`The replay fed ${vms.length} Bitbrains VMs through ingestion; the profiler saw them on the interception hook.`);
      avgBytes = await sampleBytes(traceDir, vms[0]!);
    } else {
      if (!traceDir) throw new Error('no replayed VMs (state replay.vms) and no ../shared traces to feed');
      vms = DEMO_VMS;
      const t0 = Date.now();
      const fed = await feedTraces(ctx, traceDir, vms, DEMO_ROWS);
      avgBytes = fed.avgBytes;
      ctx.say(`Fed the last 12 h of ${vms.length} Bitbrains VMs (${fed.samples.toLocaleString('en-US')} samples) through ingestion in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    }
    const s = mod.profiler.stats;
    ctx.say(`Profiler: ${mod.profiler.size} VMs tracked, ${s.accepted.toLocaleString('en-US')} values in the windows, ${s.duplicates} duplicates, ${s.out_of_order} out of order, ${s.resets} counter resets.`);

    // The utilisation queue: most free CPU first, among VMs with at least 2 GiB free memory.
    const q = await call<{ vms: QueueEntry[] }>(ctx, 'GET', '/v1/queues?resource=cpu&order=free&k=8&min_free_memory_gib=2');
    ctx.say('GET /v1/queues?resource=cpu&order=free&k=8&min_free_memory_gib=2 (moving averages over the last window):');
    ctx.say('  VM     vCPUs  mem GiB  CPU %  mem %  free cores  free GiB');
    for (const v of q.vms) {
      ctx.say(`  ${v.name.padEnd(6)} ${String(v.vcpus ?? '-').padStart(5)}  ${fmt(v.memory_mb === null ? null : v.memory_mb / 1024).padStart(7)}  ${fmt(v.cpu_pct).padStart(5)}  ${fmt(v.memory_pct).padStart(5)}  ${fmt(v.free_cpu_cores, 2).padStart(10)}  ${fmt(v.free_memory_gib).padStart(8)}`);
    }
    ctx.say('Free CPU cores:');
    for (const line of textBars(q.vms.map((v) => ({ label: v.name, value: v.free_cpu_cores, note: `${fmt(v.free_cpu_cores, 2)} cores` })), 30).split('\n')) ctx.say(`  ${line}`);

    // CPU utilisation over time of the top VMs, as stored (cpu_util samples).
    const top = q.vms.slice(0, 4);
    const series: Series[] = [];
    for (const v of top) {
      const docs = await ctx.app.services.db
        .collection('meter')
        .find({ resource_id: v.vm, counter_name: 'cpu_util' }, { projection: { timestamp: 1, counter_volume: 1, _id: 0 } })
        .sort({ timestamp: -1 })
        .limit(DEMO_ROWS)
        .toArray();
      docs.reverse();
      series.push({ name: `VM ${v.name} (${v.vcpus} vCPU)`, points: docs.map((d) => ({ x: d.timestamp as Date, y: d.counter_volume as number })) });
    }
    if (series.some((x) => x.points.length > 1)) {
      ctx.say(`CPU % over the last ${DEMO_ROWS} polls, top ${series.length} VMs:`);
      const step = Math.max(1, Math.ceil(Math.max(...series.map((x) => x.points.length)) / 60));
      const chart = textLineChart(series.map((x) => x.points.filter((_, i) => i % step === 0).map((p) => p.y)), 8);
      for (const line of chart.split('\n')) ctx.say(`  ${line}`);
      await mkdir(ctx.outDir, { recursive: true });
      const file = path.join(ctx.outDir, 'profiler-cpu.svg');
      await writeFile(file, lineChartSvg({ width: 900, height: 420, title: 'CPU utilisation of the VMs with the most free CPU (Bitbrains traces)', xLabel: 'trace time (UTC)', yLabel: 'CPU %', series }));
      ctx.say(`Plot: ${file}`);
    }

    // The predictor on the live profiles.
    const estimate = ctx.state.get('estimate') as { bytes?: { per_day?: number }; events?: { per_day?: number } } | undefined;
    let volume: { bytes_per_day: number; events_per_second: number };
    let whence: string;
    if (estimate?.bytes?.per_day !== undefined && estimate.events?.per_day !== undefined) {
      volume = { bytes_per_day: estimate.bytes.per_day, events_per_second: estimate.events.per_day / 86_400 };
      whence = 'the onboarding estimate';
    } else {
      const eps = (vms.length * SAMPLES_PER_POLL) / POLL_S;
      volume = { bytes_per_day: eps * 86_400 * avgBytes, events_per_second: eps };
      whence = `the replayed VMs' polling rate (${vms.length} VMs × ${SAMPLES_PER_POLL} samples / ${POLL_S} s, ${Math.round(avgBytes)} B each)`;
    }
    ctx.say(`Predictor input from ${whence}: ${(volume.bytes_per_day / 2 ** 20).toFixed(1)} MiB/day, ${volume.events_per_second.toFixed(2)} events/s.`);
    for (const [label, targets] of [
      ['defaults (profiler.targets)', {}],
      ['high availability (3 members per shard)', { min_replicas: 3 }],
    ] as const) {
      const rec = await call<SetupRecommendation>(ctx, 'POST', '/v1/predictor/recommendation', { ...volume, targets });
      ctx.say(`Recommendation, ${label}: ${rec.feasible ? `${rec.shards} shard(s) × ${rec.replicas} member(s)` : 'nothing fits within the caps'}`);
      for (const p of rec.placement) {
        ctx.say(`  shard ${p.shard} member ${p.member} → VM ${p.name}: +${fmt(p.extra_cpu_pp, 2)} pp CPU, +${fmt(p.extra_memory_pp, 2)} pp memory → ${fmt(p.cpu_pct_after)}% CPU, ${fmt(p.memory_pct_after)}% memory`);
      }
      for (const e of rec.explanation) ctx.say(`  · ${e}`);
    }
    ctx.state.set('profiler.top_vms', top.map((v) => v.name));
  },
};
