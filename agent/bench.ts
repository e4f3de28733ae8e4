/**
 * Benchmarks of the host agent:
 *  - overhead: a real `metering agent run --interval 1` child process measured from /proc/<pid>
 *    (CPU time over wall time, VmRSS), after a warm-up;
 *  - scale: simulated agents (agent/simulate.ts, a few processes) registered through the real Redis
 *    queue and a real RequestBroker; request/reply latency at a steady rate and the controller's heap
 *    per registered agent, at each agent count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { percentile } from '../lib/stats';
import { textBars } from '../lib/plot';
import { RequestBroker } from './broker';
import { simHost, simResources } from './simulate';

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../bin/metering.mjs');
const AGENT_BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../bin/metering-agent.mjs');
/**
 * How the agent is run on a host: its own bundled entry, without V8's optimising compiler (the
 * agent's work is I/O; measured −4.7 MB RSS, CPU unchanged) and with a small young generation
 * (bounds memory while a large raw-data answer is built). Not --lite-mode/--jitless: they disable
 * WebAssembly, which Node's fetch (undici's HTTP parser) needs, so the agent crashed on its first
 * request to a controller or an http:// destination. docs/agent.md has the measurements.
 */
export const AGENT_NODE_FLAGS = ['--no-opt', '--max-semi-space-size=1'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK = 100; // USER_HZ: clock ticks per second in /proc/<pid>/stat (100 on Linux)

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const task of existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : []) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c), ...children(Number(c)));
    } catch {
      /* task gone */
    }
  }
  return out;
}

export interface OverheadResult {
  benchmark: 'agent-overhead';
  interval_s: number;
  measured_s: number;
  polls_per_s: number;
  metrics: number | null;
  cpu_pct_of_one_core: number;
  rss_mb_avg: number;
  rss_mb_max: number;
  /** Helper processes of the TypeScript loader (esbuild service), not part of the agent's work. */
  loader_children_rss_mb: number;
  budget: { cpu_pct: number; rss_mb: number; met: boolean };
  /** The command line the agent ran with. */
  agent_command: string;
  machine: string;
  command: string;
}

export async function runOverheadBench(opts: { intervalS: number; seconds: number; progress: boolean; warmupS?: number; fullCli?: boolean }): Promise<OverheadResult> {
  const warmup = opts.warmupS ?? 10;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-bench-'));
  const say = (l: string) => opts.progress && process.stdout.write(l + '\n');
  const entry = opts.fullCli ? [BIN, 'agent'] : [...AGENT_NODE_FLAGS, AGENT_BIN];
  const child = spawn(process.execPath, [...entry, 'run', '--interval', String(opts.intervalS), '--window', '10', '--duration', String(warmup + opts.seconds + 5), '--data-dir', dir, '--publish', `file:${path.join(dir, 'samples.jsonl')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let firstLine = '';
  child.stdout!.on('data', (b: Buffer) => {
    if (!firstLine) firstLine = b.toString().split('\n')[0]!;
  });
  try {
    say(`agent started (pid ${child.pid}); warming up ${warmup} s…`);
    await sleep(warmup * 1000);
    const pid = child.pid!;
    const c0 = cpuTicks(pid);
    const t0 = Date.now();
    const rss: number[] = [];
    let loader = 0;
    for (let s = 0; s < opts.seconds; s++) {
      await sleep(1000);
      rss.push(rssBytes(pid));
      loader = Math.max(loader, children(pid).reduce((a, c) => a + (existsSync(`/proc/${c}`) ? rssBytes(c) : 0), 0));
      if (opts.progress && (s + 1) % 10 === 0) say(`  ${s + 1}/${opts.seconds} s: CPU ${(((cpuTicks(pid) - c0) / TICK / ((Date.now() - t0) / 1000)) * 100).toFixed(2)} %, RSS ${(rss.at(-1)! / 2 ** 20).toFixed(1)} MB`);
    }
    const c1 = cpuTicks(pid);
    const wall = (Date.now() - t0) / 1000;
    const cpu = ((c1 - c0) / TICK / wall) * 100;
    const metrics = /(\d+) metrics/.exec(firstLine)?.[1];
    const r: OverheadResult = {
      benchmark: 'agent-overhead',
      interval_s: opts.intervalS,
      measured_s: Math.round(wall),
      polls_per_s: 1 / opts.intervalS,
      metrics: metrics ? Number(metrics) : null,
      cpu_pct_of_one_core: Number(cpu.toFixed(3)),
      rss_mb_avg: Number((rss.reduce((a, b) => a + b, 0) / rss.length / 2 ** 20).toFixed(1)),
      rss_mb_max: Number((Math.max(...rss) / 2 ** 20).toFixed(1)),
      loader_children_rss_mb: Number((loader / 2 ** 20).toFixed(1)),
      budget: { cpu_pct: 1, rss_mb: 50, met: cpu <= 1 && Math.max(...rss) <= 50 * 2 ** 20 },
      agent_command: `node ${[...entry.map((e) => (e.startsWith('/') ? path.relative(process.cwd(), e) : e)), 'run', '--interval', String(opts.intervalS), '--window', '10'].join(' ')}`,
      machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, shared and busy`,
      command: `metering agent bench overhead --interval ${opts.intervalS} --seconds ${opts.seconds}${opts.fullCli ? ' --full-cli' : ''}`,
    };
    mkdirSync('out/bench', { recursive: true });
    writeFileSync('out/bench/agent-overhead.json', JSON.stringify(r, null, 2) + '\n');
    say(`${r.agent_command}: agent at interval ${opts.intervalS} s over ${r.measured_s} s (${r.metrics ?? '?'} metrics per poll): CPU ${r.cpu_pct_of_one_core} % of one core, RSS avg ${r.rss_mb_avg} MB, max ${r.rss_mb_max} MB (budget: CPU ≤ 1 %, RSS ≤ 50 MB: ${r.budget.met ? 'met' : 'NOT met'}); loader helper processes ${r.loader_children_rss_mb} MB. Written to out/bench/agent-overhead.json`);
    return r;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ScaleStep {
  agents: number;
  requests: number;
  answered: number;
  timeouts: number;
  p50_ms: number;
  p99_ms: number;
  controller_heap_bytes_per_agent: number;
  registry_resources: number;
}

export interface ScaleResult {
  benchmark: 'agent-scale';
  rate_per_s: number;
  seconds_per_step: number;
  processes: number;
  steps: ScaleStep[];
  growth: { agents: string; p50: number; p99: number; heap_per_agent: number } | null;
  machine: string;
  command: string;
}

function gcNow(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export async function runScaleBench(opts: { redisUrl: string; counts: number[]; rate: number; seconds: number; processes: number; progress: boolean; prefix?: string; /** Write out/bench/agent-scale.json (default true). */ write?: boolean }): Promise<ScaleResult> {
  const say = (l: string) => opts.progress && process.stdout.write(l + '\n');
  const prefix = opts.prefix ?? `bench-agents-${process.pid}`;
  const gc = gcNow();
  const counts = [...opts.counts].sort((a, b) => a - b);
  const broker = await RequestBroker.start({ redisUrl: opts.redisUrl, prefix, timeoutMs: 5000, maxInFlight: 100_000, missedHeartbeats: 3 });
  const procs: Array<{ child: ChildProcess; lines: AsyncIterator<string> }> = [];
  for (let i = 0; i < opts.processes; i++) {
    const child = spawn(process.execPath, [BIN, 'agent', 'simulate', '--redis', opts.redisUrl, '--prefix', prefix, '--heartbeat', '30'], { stdio: ['pipe', 'pipe', 'inherit'] });
    procs.push({ child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() });
  }
  const steps: ScaleStep[] = [];
  try {
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    let have = 0;
    for (const n of counts) {
      // grow to n agents, split over the processes
      const per = Math.ceil((n - have) / procs.length);
      await Promise.all(
        procs.map(async (p, k) => {
          const from = have + k * per;
          const to = Math.min(n, from + per);
          if (from >= to) return;
          p.child.stdin!.write(`add ${from} ${to}\n`);
          await p.lines.next();
        }),
      );
      have = n;
      const until = Date.now() + 30_000;
      while (broker.registry.size < n && Date.now() < until) await sleep(50);
      if (broker.registry.size < n) throw new Error(`only ${broker.registry.size} of ${n} simulated agents registered within 30 s`);
      gc();
      const heapPerAgent = (process.memoryUsage().heapUsed - heap0) / n;
      // steady requests: one every 1000/rate ms to a random agent and resource
      const lat: number[] = [];
      let timeouts = 0;
      const inflight: Promise<void>[] = [];
      const total = Math.round(opts.rate * opts.seconds);
      const t0 = Date.now();
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / opts.rate;
        if (due > Date.now()) await sleep(due - Date.now());
        const host = simHost(Math.floor(Math.random() * n));
        const rid = simResources(host)[0]!;
        const start = performance.now();
        inflight.push(
          broker.request(host, { op: 'raw', resource_id: rid, meter: 'hardware.cpu.util', from: Date.now() - 120_000, to: Date.now(), max_points: 10_000 }).then(
            () => void lat.push(performance.now() - start),
            () => void timeouts++,
          ),
        );
      }
      await Promise.all(inflight);
      const step: ScaleStep = { agents: n, requests: total, answered: lat.length, timeouts, p50_ms: Number(percentile(lat, 50).toFixed(2)), p99_ms: Number(percentile(lat, 99).toFixed(2)), controller_heap_bytes_per_agent: Math.round(heapPerAgent), registry_resources: broker.registry.resourceCount };
      steps.push(step);
      say(`${String(n).padStart(6)} agents: ${step.answered}/${step.requests} answered at ${opts.rate}/s, p50 ${step.p50_ms} ms, p99 ${step.p99_ms} ms, ${step.timeouts} timeouts; controller heap ${(step.controller_heap_bytes_per_agent / 1024).toFixed(2)} KiB per agent`);
    }
  } finally {
    for (const p of procs) {
      p.child.stdin!.end();
      p.child.kill('SIGTERM');
    }
    await broker.close();
  }
  const a = steps[0];
  const b = steps.at(-1);
  const r: ScaleResult = {
    benchmark: 'agent-scale',
    rate_per_s: opts.rate,
    seconds_per_step: opts.seconds,
    processes: opts.processes,
    steps,
    growth: a && b && a !== b ? { agents: `${a.agents} → ${b.agents}`, p50: Number((b.p50_ms / a.p50_ms).toFixed(2)), p99: Number((b.p99_ms / a.p99_ms).toFixed(2)), heap_per_agent: Number((b.controller_heap_bytes_per_agent / a.controller_heap_bytes_per_agent).toFixed(2)) } : null,
    machine: `${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, shared and busy`,
    command: `metering agent bench scale --agents ${counts.join(',')} --rate ${opts.rate} --seconds ${opts.seconds} --processes ${opts.processes}`,
  };
  if (opts.write !== false) {
    mkdirSync('out/bench', { recursive: true });
    writeFileSync('out/bench/agent-scale.json', JSON.stringify(r, null, 2) + '\n');
  }
  if (opts.progress) {
    say('\np99 request/reply latency by registered agents (ms):');
    say(textBars(steps.map((s) => ({ label: `${s.agents} agents`, value: s.p99_ms, note: `${s.p99_ms} ms (p50 ${s.p50_ms})` }))));
    if (r.growth) say(`growth ${r.growth.agents}: p50 ×${r.growth.p50}, p99 ×${r.growth.p99}, heap per agent ×${r.growth.heap_per_agent}. Written to out/bench/agent-scale.json`);
  }
  return r;
}
