import type { Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { loadConfig, type MeteringConfig } from '../app/config';
import { discoverCommand, runCommand, topCommand, type AgentSettings } from './commands';
import { agentHostConfig } from './config';

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

function settingsOf(program: Command): AgentSettings {
  const config = configOf(program);
  return { host: config.agent.host, telemetrySecret: config.ingest.telemetrySecret };
}

export const register: RegisterCommands = (program) => {
  const defaults = agentHostConfig.parse({});
  const agent = program.command('agent').description('the host agent: metric discovery, polling with client-side window aggregation, raw data kept on the host until requested');

  agent
    .command('discover')
    .description('list what this host can report (CPU, memory, load, block devices, filesystems, interfaces, libvirt domains, cgroup v2 units)')
    .option('--json', 'print {"host","architecture","cpu_model","cpu_cores","memory_total_bytes","metrics":[{"name","type","unit","resource_id"}]}')
    .option('--host <name>', 'host name to report as (default: this machine\'s hostname)')
    .action(async (opts: { json?: boolean; host?: string }) => discoverCommand(opts, () => settingsOf(program)));

  agent
    .command('run')
    .description('run the host agent: poll every --interval s, keep every poll in the local raw store, publish one window sample per metric per --window s, answer raw-data requests (on hosts run `metering-agent run …`, the same command in the agent\'s own small entry: ~47 MB RSS instead of ~171 MB through this CLI, docs/agent.md)')
    .option('--interval <s>', `seconds between polls (default agent.host.interval_s, ${defaults.interval_s})`, positive('--interval'))
    .option('--window <s>', `seconds per aggregation window (default agent.host.window_s, ${defaults.window_s})`, positive('--window'))
    .option('--duration <s>', 'stop after this many seconds (default: run until SIGINT/SIGTERM)', positive('--duration'))
    .option('--publish <url>', 'http://[user:TOKEN@]host:port/v1/samples | kafka://host:port?topic=ceilometer | file:PATH (default: the --controller\'s /v1/samples; without a controller, the spool only)')
    .option('--controller <url>', 'register with this controller and answer its raw-data requests (e.g. http://127.0.0.1:8777)')
    .option('--token <token>', 'bearer token (role ingest) for --controller and an http:// --publish (or METERING_AGENT_TOKEN)')
    .option('--data-dir <dir>', `local raw store and spool (default agent.host.data_dir, ${defaults.data_dir})`)
    .option('--host <name>', "host name to report as (default: this machine's hostname)")
    .option('--quiet', 'no progress lines')
    .option('--ca <file>', "PEM CA the https:// controller's certificate chains to (default: the system's CAs)")
    .option('--cert <file>', 'PEM client certificate for mutual TLS (its subject maps to a principal in controller.tls.clientPrincipals)')
    .option('--key <file>', 'PEM private key of --cert')
    .action(async (opts: { interval?: number; window?: number; duration?: number; publish?: string; controller?: string; token?: string; dataDir?: string; host?: string; quiet?: boolean; ca?: string; cert?: string; key?: string }) => runCommand(opts, () => settingsOf(program)));

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
    .option('--ca <file>', "PEM CA the https:// controller's certificate chains to (default: the system's CAs)")
    .option('--cert <file>', 'PEM client certificate for mutual TLS')
    .option('--key <file>', 'PEM private key of --cert')
    .action(async (opts: { controller: string; token?: string; hosts?: string; meter: string; span: number; refresh: number; once?: boolean; ca?: string; cert?: string; key?: string }) => topCommand(opts));

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
