import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { YamlValidationError } from '../config/yaml-source';
import { parseDuration } from './duration';
import { MetricsLineError, observationToJson } from './metrics';
import { replayFile } from './replay';
import { SCENARIOS, synthesize, type Scenario } from './synth';
import { loadTraces } from './trace';

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
        if (!existsSync(opts.traceDir)) throw new CliError(`trace directory not found: ${opts.traceDir} (use --trace-dir)`, 2);
        const files = opts.trace === 'all' ? readdirSync(opts.traceDir).filter((f) => f.endsWith('.csv')).map((f) => path.join(opts.traceDir, f)) : opts.trace.split(',').map((id) => path.join(opts.traceDir, `${id.trim()}.csv`));
        const obs = clean(() => loadTraces(files, { maxRows: opts.rows, cpuScale: opts.cpuScale }));
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

export const register: RegisterCommands = (program) => {
  registerScaler(program);
};
