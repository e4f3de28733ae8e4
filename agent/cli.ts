import type { Command } from 'commander';
import { stderrLog } from './log';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { loadConfig } from '../config/load';
import type { MeteringConfig } from '../config/schema';
import { agentHostConfig } from './config';
import { HostProbe } from './host/probe';
import { discoveryJson } from './metrics';
import { createPublisher, PublishError } from './publisher';
import { AgentRuntime } from './runtime';
import { renderTop, type SeriesRow } from './top';

/**
 * `metering agent discover [--json]`      what this host can report
 * `metering agent run …`                  the host agent: poll, keep raw polls, publish window samples, answer requests
 * `metering agent top --controller …`     the hosts' own series as a live table with sparklines
 * `metering agent bench overhead|scale`   the agent's CPU/RSS; 10,000 simulated agents through the request queue
 */

const positive = (name: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new CliError(`${name} must be a number > 0, got "${v}"`, 2);
  return n;
};

function configOf(program: Command): MeteringConfig {
  try {
    return loadConfig(program.opts().config as string | undefined);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export const register: RegisterCommands = (program) => {
  const defaults = agentHostConfig.parse({});
  const agent = program.command('agent').description('the host agent: metric discovery, polling with client-side window aggregation, raw data kept on the host until requested');

  agent
    .command('discover')
    .description('list what this host can report (CPU, memory, load, block devices, filesystems, interfaces, libvirt domains, cgroup v2 units)')
    .option('--json', 'print {"host","architecture","cpu_model","cpu_cores","memory_total_bytes","metrics":[{"name","type","unit","resource_id"}]}')
    .option('--host <name>', 'host name to report as (default: this machine\'s hostname)')
    .action(async (opts: { json?: boolean; host?: string }) => {
      const cfg = configOf(program).agent.host;
      const probe = new HostProbe({ host: opts.host, perCore: cfg.per_core, virshTimeoutMs: cfg.virsh_timeout_s * 1000 });
      const d = await probe.discover();
      if (opts.json) {
        printJson(discoveryJson(d));
        return;
      }
      const out = process.stdout;
      out.write(`${d.host}: ${d.cpu_model}, ${d.architecture}, ${d.cpu_cores} cores, ${(d.memory_total_bytes / 2 ** 30).toFixed(1)} GiB\n`);
      const byKind = new Map<string, number>();
      for (const r of d.resources) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
      out.write(`${d.resources.length} resources (${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}), ${d.metrics.length} metrics:\n`);
      const w = Math.max(...d.metrics.map((m) => m.name.length));
      for (const m of d.metrics) out.write(`  ${m.name.padEnd(w)}  ${m.type.padEnd(10)}  ${m.unit.padEnd(8)}  ${m.resource_id}\n`);
      for (const n of probe.notes) out.write(`note: ${n}\n`);
    });

  agent
    .command('run')
    .description('run the host agent: poll every --interval s, keep every poll in the local raw store, publish one window sample per metric per --window s, answer raw-data requests')
    .option('--interval <s>', `seconds between polls (default agent.host.interval_s, ${defaults.interval_s})`, positive('--interval'))
    .option('--window <s>', `seconds per aggregation window (default agent.host.window_s, ${defaults.window_s})`, positive('--window'))
    .option('--duration <s>', 'stop after this many seconds (default: run until SIGINT/SIGTERM)', positive('--duration'))
    .option('--publish <url>', 'http://[user:TOKEN@]host:port/v1/samples | kafka://host:port?topic=ceilometer | file:PATH (default: the --controller\'s /v1/samples; without a controller, the spool only)')
    .option('--controller <url>', 'register with this controller and answer its raw-data requests (e.g. http://127.0.0.1:8777)')
    .option('--token <token>', 'bearer token (role ingest) for --controller and an http:// --publish (or METERING_AGENT_TOKEN)')
    .option('--data-dir <dir>', `local raw store and spool (default agent.host.data_dir, ${defaults.data_dir})`)
    .option('--host <name>', "host name to report as (default: this machine's hostname)")
    .option('--quiet', 'no progress lines')
    .action(async (opts: { interval?: number; window?: number; duration?: number; publish?: string; controller?: string; token?: string; dataDir?: string; host?: string; quiet?: boolean }) => {
      const config = configOf(program);
      const cfg = { ...config.agent.host, ...(opts.dataDir ? { data_dir: opts.dataDir } : {}) };
      const intervalMs = (opts.interval ?? cfg.interval_s) * 1000;
      const windowMs = (opts.window ?? cfg.window_s) * 1000;
      if (windowMs < intervalMs) throw new CliError(`--window (${windowMs / 1000} s) must be at least --interval (${intervalMs / 1000} s)`, 2);
      const token = opts.token ?? process.env.METERING_AGENT_TOKEN;
      if (opts.controller && !/^https?:\/\/[^/\s]+/i.test(opts.controller)) throw new CliError(`--controller: expected http://host:port, got "${opts.controller}"`, 2);
      let publisher;
      try {
        // with a controller and no --publish, window samples go to that controller's /v1/samples
        const to = opts.publish ?? (opts.controller ? new URL('/v1/samples', opts.controller).href : undefined);
        publisher = to ? createPublisher(to, { token, secret: config.ingest.telemetrySecret }) : undefined;
      } catch (err) {
        if (err instanceof PublishError) throw new CliError(err.message, 2);
        throw err;
      }
      const log = stderrLog(process.env.METERING_LOG_LEVEL ?? 'warn');
      const probe = new HostProbe({ host: opts.host, perCore: cfg.per_core, virshTimeoutMs: cfg.virsh_timeout_s * 1000 });
      const say = (l: string) => opts.quiet || process.stdout.write(l + '\n');
      const runtime = new AgentRuntime({
        probe,
        config: cfg,
        intervalMs,
        windowMs,
        publisher,
        controller: opts.controller ? { url: opts.controller, token } : undefined,
        log,
        onWindow: (samples) => {
          const s = runtime.status();
          const start = (samples[0]!.resource_metadata.window as { start: string }).start;
          say(`${new Date().toISOString()} window ${start}: ${samples.length} samples spooled; sent ${s.samples_sent}, waiting ${s.spool_batches} batch(es), raw store ${(s.raw_bytes / 1024).toFixed(0)} KiB${s.last_error ? `; last error: ${s.last_error}` : ''}`);
        },
      });
      await runtime.start();
      const d = runtime.currentDiscovery();
      say(`agent on ${d.host}: ${d.metrics.length} metrics on ${d.resources.length} resources; poll every ${intervalMs / 1000} s, window ${windowMs / 1000} s; raw store ${cfg.data_dir}; publish ${publisher?.display ?? '(spool only)'}${opts.controller ? `; controller ${opts.controller}` : ''}`);
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
        if (opts.duration) setTimeout(done, opts.duration * 1000).unref();
      });
      await runtime.stop(opts.duration ? 10_000 : 2000);
      const s = runtime.status();
      say(`stopped: ${s.polls} polls, ${s.windows} windows, ${s.samples_spooled} samples spooled, ${s.samples_sent} sent, ${s.samples_rejected} refused by the destination, ${s.spool_dropped_samples} dropped at the spool bound, ${s.spool_batches} batch(es) still in the spool (sent on the next start)`);
    });

  agent
    .command('top')
    .description("the hosts' own series of one meter (GET /v1/hosts/series) as a live table with sparklines")
    .requiredOption('--controller <url>', 'controller base URL')
    .option('--token <token>', 'bearer token with role read (or METERING_TOKEN)')
    .option('--hosts <list>', 'comma-separated host names (default: every registered agent, up to 20)')
    .option('--meter <name>', 'meter', 'hardware.cpu.util')
    .option('--span <s>', 'seconds of history per sparkline', positive('--span'), 300)
    .option('--refresh <s>', 'seconds between redraws', positive('--refresh'), 2)
    .option('--once', 'draw once and exit')
    .action(async (opts: { controller: string; token?: string; hosts?: string; meter: string; span: number; refresh: number; once?: boolean }) => {
      const token = opts.token ?? process.env.METERING_TOKEN;
      const headers = token ? { authorization: `Bearer ${token}` } : undefined;
      const get = async (p: string) => {
        let res: Response;
        try {
          res = await fetch(new URL(p, opts.controller), { headers });
        } catch (err) {
          throw new CliError(`${opts.controller}: ${(err as Error).cause ?? (err as Error).message}`, 1);
        }
        const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        if (!res.ok) throw new CliError(`GET ${p}: ${res.status} ${String(body.message ?? body.reason ?? '')}`, 1);
        return body;
      };
      let hosts = opts.hosts;
      if (!hosts) {
        const list = (await get('/v1/agents')) as { agents: Array<{ host: string }> };
        hosts = list.agents.slice(0, 20).map((a) => a.host).join(',');
        if (!hosts) throw new CliError('no agent is registered with the controller (start one with `metering agent run --controller …`)', 1);
      }
      for (;;) {
        const to = new Date();
        const from = new Date(to.getTime() - opts.span * 1000);
        const body = (await get(`/v1/hosts/series?hosts=${encodeURIComponent(hosts)}&meter=${encodeURIComponent(opts.meter)}&from=${from.toISOString()}&to=${to.toISOString()}`)) as { hosts: SeriesRow[] };
        const table = renderTop(opts.meter, body.hosts, Math.min(60, Math.max(10, (process.stdout.columns ?? 120) - 70)), to);
        if (opts.once || !process.stdout.isTTY) {
          process.stdout.write(table);
          if (opts.once) return;
        } else process.stdout.write(`\x1b[H\x1b[2J${table}(refresh every ${opts.refresh} s; Ctrl-C to stop)\n`);
        await new Promise((r) => setTimeout(r, opts.refresh * 1000));
      }
    });

  const bench = agent.command('bench').description('benchmarks of the host agent');
  bench
    .command('overhead')
    .description("the agent's own CPU and RSS while it runs at --interval (default 1 s), from /proc/<pid> (out/bench/agent-overhead.json)")
    .option('--interval <s>', 'poll interval', positive('--interval'), 1)
    .option('--seconds <s>', 'how long to measure', positive('--seconds'), 60)
    .option('--full-cli', 'run the agent through the full `metering` CLI (TypeScript loader, every component) instead of bin/metering-agent.mjs')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { interval: number; seconds: number; fullCli?: boolean; json?: boolean }) => {
      const { runOverheadBench } = await import('./bench');
      const r = await runOverheadBench({ intervalS: opts.interval, seconds: opts.seconds, progress: !opts.json, fullCli: opts.fullCli });
      if (opts.json) printJson(r);
    });
  bench
    .command('scale')
    .description('simulated agents (light, in a few processes) registered through the real Redis queue: request/reply latency p50/p99 at a steady rate and controller memory per agent, from 1,000 to 10,000 agents (out/bench/agent-scale.json)')
    .option('--agents <list>', 'agent counts, comma-separated', '1000,2500,5000,10000')
    .option('--rate <n>', 'requests per second', positive('--rate'), 200)
    .option('--seconds <s>', 'seconds of steady requests per step', positive('--seconds'), 5)
    .option('--processes <n>', 'processes hosting the simulated agents', positive('--processes'), 2)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { agents: string; rate: number; seconds: number; processes: number; json?: boolean }) => {
      const counts = opts.agents.split(',').map((s) => Number(s.trim()));
      if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new CliError(`--agents: expected positive integers, got "${opts.agents}"`, 2);
      const config = configOf(program);
      const { runScaleBench } = await import('./bench');
      const r = await runScaleBench({ redisUrl: process.env.REDIS_URL ?? config.redis.url, counts, rate: opts.rate, seconds: opts.seconds, processes: Math.round(opts.processes), progress: !opts.json });
      if (opts.json) printJson(r);
    });

  agent
    .command('simulate', { hidden: true })
    .description('simulated agents for `agent bench scale` (stdin: "add FROM TO")')
    .requiredOption('--redis <url>', 'redis URL')
    .requiredOption('--prefix <p>', 'channel prefix')
    .option('--heartbeat <s>', 'heartbeat period', positive('--heartbeat'), 30)
    .action(async (opts: { redis: string; prefix: string; heartbeat: number }) => {
      const { runSimulatedAgents } = await import('./simulate');
      await runSimulatedAgents({ redisUrl: opts.redis, prefix: opts.prefix, heartbeatS: opts.heartbeat });
    });
};
