import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { MongoClient } from 'mongodb';
import { CliError, commandGroup, printJson, type RegisterCommands } from '../cli/registry';
import { programConfig } from '../app/config-commands';
import { YamlValidationError } from '../config/yaml-source';
import { createLogger } from '../lib/log';
import { textLineChart } from '../lib/plot';
import { Actuator, loopbackHeadroom } from './actuator';
import { findBinaries, NoBinariesError } from './cluster/binaries';
import { clusterDown, clusterStatus, clusterUp, mongosUri, renderStatus } from './cluster/cluster';
import { LocalProcessProvisioner } from './cluster/local';
import { clusterDir, readState } from './cluster/state';
import { defaultPolicy, loadPolicyFile, type ScalerConfig, type ShardKey } from './config';
import { DecisionRepository } from './decisions';
import { parseDuration } from './duration';
import { ScalerLoop } from './loop';
import { MetricsLineError, observationToJson } from './metrics';
import { decisionLine } from './policy';
import { replayFile } from './replay';
import { buildReport, reportMarkdown } from './shard-key/report';
import { measureKeys } from './shard-key/runner';
import { scoreKeys } from './shard-key/score';
import { collectSignals, mergeObservations, osLoad } from './signals';
import { demandFromObservations, simulate } from './simulate';
import { SCENARIOS, synthesize, type Scenario } from './synth';
import { loadTraces } from './trace';
import { initShardedStore, StoreInitError } from './store-init';

/** The `scaler:` section of the effective metering.yaml (defaults when the file has none). */
function scalerSettings(program: Command): ScalerConfig {
  return programConfig(program).scaler;
}

const log = () => createLogger('scaler', process.env.METERING_LOG_LEVEL ?? 'warn');

async function binariesOr2<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NoBinariesError) throw new CliError(err.message, 2);
    throw err;
  }
}

function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('Local sharded MongoDB cluster on 127.0.0.1 from real binaries (MONGO_BIN_DIR with mongod + mongos)');
  cluster
    .command('up')
    .description('start config server replica set, N single-node shard replica sets and a mongos; add the shards; chunksize 1 MB')
    .option('--shards <n>', 'number of shards', int)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { shards?: number; json?: boolean }) => {
      const cfg = scalerSettings(program).cluster;
      const r = await binariesOr2(() => clusterUp(cfg, opts.shards ?? cfg.shards, log()));
      if (opts.json) printJson(r);
      else process.stdout.write(`${r.reused ? 'already running' : 'started'}: ${r.uri}\n${r.shards.map((s) => `  ${s.name}  ${s.hosts.join(',')}`).join('\n')}\n`);
    });
  cluster
    .command('status')
    .description('shards, data per shard (text bars) and balancer state')
    .option('--uri <mongos>', 'mongos URI (default: the local cluster)')
    .option('--json', 'print JSON')
    .action(async (opts: { uri?: string; json?: boolean }) => {
      const st = readState();
      const uri = opts.uri ?? (st?.mongos ? mongosUri(st.mongos.port) : undefined);
      if (!uri) throw new CliError('no local cluster (run `metering cluster up`, or pass --uri mongodb://mongos...)', 2);
      const s = await clusterStatus(uri);
      if (opts.json) printJson(s);
      else process.stdout.write(renderStatus(s) + '\n');
    });
  cluster
    .command('down')
    .description('stop the local cluster (mongos, shards, config server) and delete its data')
    .action(async () => {
      const r = await clusterDown(log());
      process.stdout.write(r.stopped ? `stopped ${r.stopped} process(es)\n` : 'no local cluster\n');
    });
}

const DEFAULT_TRACE_DIR = process.env.METERING_SHARED_DIR
  ? path.join(process.env.METERING_SHARED_DIR, 'data', 'traces', 'bitbrains-rnd')
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data/traces/bitbrains-rnd');

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};

/** Map known input errors to one clear CLI line. */
function clean<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MetricsLineError || err instanceof YamlValidationError) throw new CliError(err.message, 2);
    if (err instanceof Error && 'code' in err && (err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`cannot read ${(err as NodeJS.ErrnoException).path}: no such file`, 2);
    throw err;
  }
}

function registerScaler(program: Command): void {
  const scaler = program.command('scaler').description('Autoscaler of the sharded metering store: replay policies, synthesize metrics, advise the shard key');

  scaler
    .command('replay')
    .description('Replay a metrics JSONL file through the scaling policy; prints one JSON line per decision')
    .argument('<metrics>', 'JSONL: {"t":ISO,"shard":…, "cpu"|"memory"|"disk"|"reads_per_s"|"writes_per_s"|"query_ms":number} per line, or {"t":…,"onboarding":{arrives_at,bytes_per_day,events_per_s}}')
    .option('--policy <file>', 'policy YAML (keys of the scaler.policy section); default: built-in Atlas-like policy')
    .option('--all', 'print every evaluation (action "none" included)')
    .action((file: string, opts: { policy?: string; all?: boolean }) => {
      const lines = clean(() => replayFile(file, { policyFile: opts.policy, all: opts.all }));
      for (const l of lines) printJson(l);
    });

  scaler
    .command('synth')
    .description(`Generate a synthetic metrics series (JSONL) to try policies on: ${SCENARIOS.join(', ')}; or --trace for Bitbrains-derived series`)
    .option('--scenario <name>', `one of ${SCENARIOS.join(', ')}`, 'mixed')
    .option('--shards <n>', 'shards in the series', int, 2)
    .option('--step <duration>', 'sampling step', '5m')
    .option('--start <iso>', 'first timestamp', '2026-01-05T00:00:00Z')
    .option('--seed <n>', 'noise seed', int, 1)
    .option('--trace <vms>', 'derive the series from Bitbrains VM traces instead: comma-separated VM ids (e.g. 41,27) or "all"')
    .option('--trace-dir <dir>', 'directory of Bitbrains CSV files', DEFAULT_TRACE_DIR)
    .option('--rows <n>', 'with --trace: rows per VM (5-minute samples; 288 = one day)', int)
    .option('--cpu-scale <x>', 'with --trace: multiply CPU% (capped at 100)', num)
    .action((opts: { scenario: string; shards: number; step: string; start: string; seed: number; trace?: string; traceDir: string; rows?: number; cpuScale?: number }) => {
      if (opts.trace) {
        const obs = clean(() => loadTraces(traceFiles(opts.trace!, opts.traceDir), { maxRows: opts.rows, cpuScale: opts.cpuScale }));
        obs.sort((a, b) => a.t.getTime() - b.t.getTime());
        for (const o of obs) printJson(observationToJson(o));
        return;
      }
      if (!(SCENARIOS as readonly string[]).includes(opts.scenario)) throw new CliError(`unknown scenario "${opts.scenario}": expected one of ${SCENARIOS.join(', ')}`, 2);
      const start = new Date(opts.start);
      if (Number.isNaN(start.getTime())) throw new CliError(`--start: invalid date "${opts.start}"`, 2);
      let stepMs: number;
      try {
        stepMs = parseDuration(opts.step);
      } catch (err) {
        throw new CliError(`--step: ${(err as Error).message}`, 2);
      }
      const s = synthesize({ scenario: opts.scenario as Scenario, shards: opts.shards, stepMs, start, seed: opts.seed });
      process.stderr.write(`# ${opts.scenario}: ${s.description}\n`);
      for (const e of s.onboarding) printJson({ t: e.t.toISOString(), onboarding: { arrives_at: e.arrives_at.toISOString(), bytes_per_day: e.bytes_per_day, events_per_s: e.events_per_s, ...(e.label ? { label: e.label } : {}) } });
      for (const o of s.observations) printJson(observationToJson(o));
    });
}

function traceFiles(spec: string, dir: string): string[] {
  if (!existsSync(dir)) throw new CliError(`trace directory not found: ${dir} (use --trace-dir)`, 2);
  return spec === 'all' ? readdirSync(dir).filter((f) => f.endsWith('.csv')).sort().map((f) => path.join(dir, f)) : spec.split(',').map((id) => path.join(dir, `${id.trim()}.csv`));
}

function registerSimulate(scaler: Command): void {
  scaler
    .command('simulate')
    .description('Closed-loop simulation on Bitbrains-derived demand (sum of VM CPU%, in units of one shard): shard-hours, overload minutes, actions, flaps per policy')
    .option('--trace <vms>', 'comma-separated VM ids or "all"', '41,195,67')
    .option('--trace-dir <dir>', 'directory of Bitbrains CSV files', DEFAULT_TRACE_DIR)
    .option('--policy <file...>', 'policy YAML file(s) to compare; "default" is the built-in policy', ['default'])
    .option('--shards <n>', 'initial shards', int, 2)
    .option('--add-delay <duration>', 'time until an added shard carries load (start + balance)', '15m')
    .option('--remove-delay <duration>', 'time to drain a removed shard', '30m')
    .option('--chart', 'print the shard count over time as a text chart')
    .action((opts: { trace: string; traceDir: string; policy: string[]; shards: number; addDelay: string; removeDelay: string; chart?: boolean }) => {
      const demand = demandFromObservations(clean(() => loadTraces(traceFiles(opts.trace, opts.traceDir))));
      for (const file of opts.policy) {
        const policy = file === 'default' ? defaultPolicy() : clean(() => loadPolicyFile(file));
        const r = simulate(policy, { demand, initialShards: opts.shards, addDelayMs: parseDuration(opts.addDelay), removeDelayMs: parseDuration(opts.removeDelay) });
        printJson({ policy: file, trace: opts.trace, steps: demand.length, shardHours: Math.round(r.shardHours), overloadMinutes: r.overloadMinutes, hotMinutes: r.hotMinutes, adds: r.actions.add, removes: r.actions.remove, flaps: r.flaps, maxShards: r.maxShards });
        if (opts.chart) process.stdout.write(textLineChart([r.shards.filter((_, i) => i % 12 === 0)], 8) + '\n');
      }
    });
}

function registerLive(program: Command, scaler: Command): void {
  scaler
    .command('collect')
    .description('Sample a live cluster (serverStatus deltas, dbStats disk) and print observation JSONL for replay')
    .requiredOption('--uri <mongos>', 'mongos connection string')
    .option('--interval <duration>', 'time between samples', '60s')
    .option('--samples <n>', 'number of observation rounds (rates need two serverStatus snapshots, so n+1 are taken)', int, 1)
    .action(async (opts: { uri: string; interval: string; samples: number }) => {
      const cfg = scalerSettings(program);
      const every = parseDuration(opts.interval);
      const mongos = new MongoClient(opts.uri, { serverSelectionTimeoutMS: 10_000 });
      await mongos.connect();
      const state = new Map();
      const deps = { mongos, connect: async (h: string) => new MongoClient(`mongodb://${h}/?directConnection=true`, { serverSelectionTimeoutMS: 5000 }).connect(), log: log(), database: cfg.database, collection: cfg.collection };
      try {
        for (let i = 0; i <= opts.samples; i++) {
          const r = await collectSignals(deps, state);
          if (i > 0) for (const o of r.observations) printJson(observationToJson(o));
          if (i === 0 && r.skipped.length) process.stderr.write(`skipped: ${r.skipped.join('; ')}\n`);
          if (i < opts.samples) await new Promise((res) => setTimeout(res, every));
        }
      } finally {
        await mongos.close();
      }
    });

  scaler
    .command('watch')
    .description('Control loop on a live cluster: collect signals → policy → store in scaler_decisions → (with --apply) act through the local provisioner')
    .requiredOption('--uri <mongos>', 'mongos connection string')
    .option('--interval <duration>', 'time between rounds', '60s')
    .option('--rounds <n>', 'stop after n rounds (default: run until interrupted)', int)
    .option('--policy <file>', 'policy YAML (default: scaler.policy of metering.yaml)')
    .option('--vm-load <file>', 'JSON {"vm": {"cpu": %, "memory": %}} from the profiler, re-read every round; shards map to VMs by host name')
    .option('--apply', 'carry out actions (needs the local cluster started by `metering cluster up`)')
    .action(async (opts: { uri: string; interval: string; rounds?: number; policy?: string; vmLoad?: string; apply?: boolean }) => {
      const cfg = scalerSettings(program);
      const policy = opts.policy ? clean(() => loadPolicyFile(opts.policy!)) : cfg.policy;
      const logger = createLogger('scaler', process.env.METERING_LOG_LEVEL ?? 'info');
      const mongos = await new MongoClient(opts.uri, { serverSelectionTimeoutMS: 10_000 }).connect();
      const repo = new DecisionRepository(mongos.db(cfg.database));
      const state = new Map();
      const deps = { mongos, connect: async (h: string) => new MongoClient(`mongodb://${h}/?directConnection=true`, { serverSelectionTimeoutMS: 5000 }).connect(), log: logger, database: cfg.database, collection: cfg.collection };
      let actuator: Actuator | undefined;
      if (opts.apply) {
        const st = readState();
        if (!st) throw new CliError('--apply needs the local cluster state (.services/cluster): run `metering cluster up` first', 2);
        const binaries = await binariesOr2(() => findBinaries());
        const provisioner = new LocalProcessProvisioner({ binaries, dir: clusterDir(), basePort: st.basePort, cacheGB: cfg.cluster.wiredTigerCacheSizeGB, startTimeoutMs: cfg.cluster.startTimeoutSec * 1000, log: logger });
        actuator = new Actuator({ mongos, provisioner, headroom: loopbackHeadroom, config: cfg, log: logger, verifyCounts: false });
      }
      const loop = new ScalerLoop({
        policy,
        log: logger,
        collect: async () => {
          const r = await collectSignals(deps, state);
          if (!opts.vmLoad) return r.observations;
          const load = JSON.parse(readFileSync(opts.vmLoad, 'utf8')) as Record<string, { cpu?: number; memory?: number }>;
          return mergeObservations([...r.observations, ...osLoad(load, r.shardHosts, r.observations[0]?.t ?? new Date())]);
        },
        record: async (d) => {
          await repo.record(d);
        },
        act: actuator ? async (d) => void (await actuator!.apply(d)) : undefined,
      });
      process.once('SIGINT', () => loop.stop());
      try {
        const ds = await loop.run(parseDuration(opts.interval), opts.rounds);
        for (const d of ds) printJson(decisionLine(d));
      } finally {
        await mongos.close();
      }
    });

  scaler
    .command('advise-key')
    .description('Measure candidate shard keys on a real sharded cluster and record the decision (docs/shard-key-advice.{md,json})')
    .requiredOption('--uri <mongos>', 'mongos connection string (a real sharded cluster, e.g. from `metering cluster up`)')
    .option('--docs <n>', 'generated samples per candidate', int, 100_000)
    .option('--batch <n>', 'insertMany batch size', int, 1000)
    .option('--concurrency <n>', 'parallel insert workers', int, 4)
    .option('--repeats <n>', 'repetitions per query (median reported)', int, 20)
    .option('--settle <duration>', 'balancer time before measuring spread', '30s')
    .option('--out <dir>', 'where to write shard-key-advice.md/.json', 'docs')
    .option('--keys <json>', 'candidate keys as a JSON array (default: scaler.shardKey.candidates)')
    .action(async (opts: { uri: string; docs: number; batch: number; concurrency: number; repeats: number; settle: string; out: string; keys?: string }) => {
      const cfg = scalerSettings(program);
      let candidates: ShardKey[] = cfg.shardKey.candidates;
      if (opts.keys) {
        try {
          candidates = JSON.parse(opts.keys) as ShardKey[];
        } catch (err) {
          throw new CliError(`--keys: not valid JSON (${(err as Error).message})`, 2);
        }
      }
      const ms = await measureKeys({ uri: opts.uri, candidates, docs: opts.docs, batch: opts.batch, concurrency: opts.concurrency, queryRepeats: opts.repeats, database: `${cfg.database}_keyadvisor`, settleMs: parseDuration(opts.settle), log: log() });
      const ranking = scoreKeys(ms);
      const report = buildReport(ms, ranking, `metering scaler advise-key --uri ${opts.uri.replace(/\/\/[^@/]*@/, '//***@')} --docs ${opts.docs} --concurrency ${opts.concurrency}`);
      mkdirSync(opts.out, { recursive: true });
      writeFileSync(path.join(opts.out, 'shard-key-advice.json'), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(path.join(opts.out, 'shard-key-advice.md'), reportMarkdown(report));
      process.stdout.write(reportMarkdown(report));
    });
}

function registerStore(program: Command): void {
  const store = commandGroup(program, 'store', 'the metering store in MongoDB: init, migrate');
  store
    .command('init')
    .description('shard meter on store.shardKey through the mongos of store.uri before any load (indexes first; an empty collection is pre-split across the shards); scale-out later only adds shards')
    .option('--uri <uri>', 'mongos connection string (default store.uri / MONGODB_URI)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { uri?: string; json?: boolean }) => {
      const cfg = programConfig(program);
      const client = new MongoClient(opts.uri ?? cfg.store.uri, { serverSelectionTimeoutMS: cfg.store.serverSelectionTimeoutMs });
      try {
        await client.connect();
        process.stderr.write(`store init: sharding ${cfg.store.database}.meter on ${JSON.stringify(cfg.store.shardKey)} …\n`);
        const r = await initShardedStore(client, cfg.store, log());
        if (opts.json) printJson(r);
        else process.stdout.write(`${r.ns}: ${r.status === 'sharded' ? 'sharded' : 'already sharded'} on ${JSON.stringify(r.key)}\n${r.presplit}\n`);
      } catch (err) {
        if (err instanceof StoreInitError) throw new CliError(err.message, 2);
        throw err;
      } finally {
        await client.close();
      }
    });
}

export const register: RegisterCommands = (program) => {
  registerScaler(program);
  registerStore(program);
  const scaler = program.commands.find((c) => c.name() === 'scaler')!;
  registerLive(program, scaler);
  registerSimulate(scaler);
  registerCluster(program);
};
