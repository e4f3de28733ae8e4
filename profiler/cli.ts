import { existsSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { loadConfig } from '../app/config';
import { benchResultsOf, calibrate, CALIBRATION_FILE, loadCalibration, mergeBenchResults } from './calibration';
import { predictorTargetsConfig, profilerConfig, type ProfilerConfig } from './config';
import { profilesOf, profileTraceFiles } from './offline';
import { predict, type Recommendation } from './predictor';
import { Profiler, profilerOptionsFromConfig } from './profiler';
import { headroomOf } from './queues';
import { loadSnapshot, restoreProfiler } from './snapshot';

/**
 * `metering profile TRACE.csv…`        profile Bitbrains traces offline (trace → samples → profiler.onStored)
 * `metering predict --profiles …`      recommend shards / members / placement for the metering store
 * `metering predict-calibrate RES.json` derive the predictor's constants from benchmark results
 */

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`${name} must be a positive integer, got "${v}"`, 2);
    return n;
  };
}

function nonNegative(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new CliError(`${name} must be a number ≥ 0, got "${v}"`, 2);
    return n;
  };
}

function checkTraceFiles(files: string[]): void {
  for (const f of files) {
    if (!existsSync(f)) throw new CliError(`${f}: no such trace file`, 2);
    if (!statSync(f).isFile()) throw new CliError(`${f}: not a file`, 2);
  }
}

/** Trace files of a directory, numerically by VM name. */
function traceFilesIn(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith('.csv'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => path.join(dir, f));
  if (files.length === 0) throw new CliError(`${dir}: no .csv trace files in this directory`, 2);
  return files;
}

/** The `profiler:` section of the global `-c/--config` file (else ./metering.yaml, else the defaults). */
function profilerSection(program: Command): ProfilerConfig {
  try {
    return loadConfig(program.opts().config as string | undefined).profiler;
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

async function profileFiles(files: string[], window: number, config: ProfilerConfig): Promise<{ profiler: Profiler; names: { name: string; instanceId: string }[] }> {
  // Offline replay: every VM must stay tracked until the end, whatever the idle TTL.
  const profiler = new Profiler({ ...profilerOptionsFromConfig(config), window, idleTtlMs: Infinity, maxVms: Math.max(files.length, 1) });
  try {
    const result = await profileTraceFiles(files, profiler);
    return { profiler, names: result.vms };
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export const register: RegisterCommands = (program) => {
  const defaults = profilerConfig.parse({});

  program
    .command('profile')
    .description('Profile Bitbrains VM traces offline through the live profiler (moving averages per VM and resource)')
    .argument('<traces...>', 'Bitbrains trace files (.csv)')
    .option('--window <n>', `moving-average window, samples (default: profiler.window of the configuration, ${defaults.window})`, positiveInt('--window'))
    .option('--json', 'print {"vms":[{"vm","resources":{cpu:{avg,window,samples},…}}]}')
    .action(async (traces: string[], opts: { window?: number; json?: boolean }) => {
      checkTraceFiles(traces);
      const config = profilerSection(program);
      const window = opts.window ?? config.window;
      const { profiler, names } = await profileFiles(traces, window, config);
      if (opts.json) {
        printJson({
          vms: names.map(({ name, instanceId }) => ({ vm: name, resources: profiler.utilisation(instanceId)?.resources ?? {} })),
        });
        return;
      }
      const rows = names
        .map(({ name, instanceId }) => {
          const st = profiler.state(instanceId);
          return st ? { name, h: headroomOf(st), u: profiler.utilisation(instanceId)! } : undefined;
        })
        .filter((r) => r !== undefined)
        .sort((a, b) => b.h.free_cpu_cores - a.h.free_cpu_cores || b.h.free_memory_gib - a.h.free_memory_gib);
      const header = ['VM', 'vCPUs', 'mem GiB', 'CPU %', 'mem %', 'free cores', 'free GiB', 'disk r KB/s', 'disk w KB/s', 'net in KB/s', 'net out KB/s'];
      const kb = (x: number | undefined) => (x === undefined ? '-' : fmt(x / 1024, 1));
      const table = rows.map(({ name, h, u }) => [
        name,
        String(h.vcpus ?? '-'),
        h.memory_mb === null ? '-' : fmt(h.memory_mb / 1024, 1),
        fmt(h.cpu_pct),
        fmt(h.memory_pct),
        fmt(h.free_cpu_cores, 2),
        fmt(h.free_memory_gib, 1),
        kb(u.resources['disk.read']?.avg),
        kb(u.resources['disk.write']?.avg),
        kb(u.resources['network.in']?.avg),
        kb(u.resources['network.out']?.avg),
      ]);
      const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
      process.stdout.write(`Most free CPU first; averages over the last ${window} samples per resource.\n`);
      process.stdout.write(line(header) + '\n');
      for (const r of table) process.stdout.write(line(r) + '\n');
      const s = profiler.stats;
      process.stdout.write(
        `\n${s.received} samples: ${s.accepted} accepted, ${s.sized} size, ${s.baselines} counter baselines, ${s.shadowed} shadowed (cpu while cpu_util reported), ` +
          `${s.duplicates} duplicates, ${s.out_of_order} out of order, ${s.resets} counter resets, ${s.gaps} gaps.\n`,
      );
    });

  program
    .command('predict')
    .description('Recommend the metering store setup (shards, members, placement) from profiled VMs, data volume and targets')
    .requiredOption('--profiles <path>', 'directory of Bitbrains traces, one trace .csv, or a profiler snapshot .json')
    .requiredOption('--bytes-per-day <n>', 'expected metering data, bytes per day (from the estimator)', nonNegative('--bytes-per-day'))
    .requiredOption('--events-per-second <n>', 'expected samples per second (from the estimator)', nonNegative('--events-per-second'))
    .option('--query-ms <n>', `target mediation query time, ms (default: profiler.targets.query_ms, ${defaults.targets.query_ms})`, nonNegative('--query-ms'))
    .option('--query-rate <n>', `mediation/rating queries per second (default: profiler.targets.query_rate_per_s, ${defaults.targets.query_rate_per_s})`, nonNegative('--query-rate'))
    .option('--avg-load <f>', `highest average busy fraction of a member with queries, 0–1 (default ${defaults.targets.avg_load})`, nonNegative('--avg-load'))
    .option('--query-span-h <h>', `hours of data one query scans (default ${defaults.targets.query_span_h})`, nonNegative('--query-span-h'))
    .option('--min-replicas <n>', `members per shard at least (default ${defaults.targets.min_replicas})`, positiveInt('--min-replicas'))
    .option('--max-replicas <n>', `members per shard at most (default ${defaults.targets.max_replicas})`, positiveInt('--max-replicas'))
    .option('--cpu-cap <pp>', `extra CPU cap, percentage points (default ${defaults.caps.cpu_pp})`, nonNegative('--cpu-cap'))
    .option('--memory-cap <pp>', `extra memory cap, percentage points (default ${defaults.caps.memory_pp})`, nonNegative('--memory-cap'))
    .option('--window <n>', `profiling window when --profiles is a trace directory (default ${defaults.window})`, positiveInt('--window'))
    .option('--calibration <file>', 'predictor calibration JSON (default profiler/calibration.json)')
    .option('--json', 'print the recommendation as JSON')
    .action(async (opts: Record<string, unknown>) => {
      const config = profilerSection(program);
      const src = String(opts.profiles);
      if (!existsSync(src)) throw new CliError(`--profiles ${src}: no such file or directory`, 2);
      let profiler: Profiler;
      if (statSync(src).isDirectory()) profiler = (await profileFiles(traceFilesIn(src), (opts.window as number) ?? config.window, config)).profiler;
      else if (src.toLowerCase().endsWith('.json')) {
        try {
          profiler = restoreProfiler(await loadSnapshot(src), { ...profilerOptionsFromConfig(config), idleTtlMs: Infinity });
        } catch (err) {
          throw new CliError((err as Error).message, 2);
        }
      } else {
        checkTraceFiles([src]);
        profiler = (await profileFiles([src], (opts.window as number) ?? config.window, config)).profiler;
      }
      const { profiles, skipped } = profilesOf(profiler.states());
      let calibration;
      try {
        calibration = loadCalibration((opts.calibration as string | undefined) ?? CALIBRATION_FILE);
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      const parsedTargets = predictorTargetsConfig.safeParse({
        ...config.targets,
        ...(opts.queryMs !== undefined && { query_ms: opts.queryMs }),
        ...(opts.queryRate !== undefined && { query_rate_per_s: opts.queryRate }),
        ...(opts.avgLoad !== undefined && { avg_load: opts.avgLoad }),
        ...(opts.querySpanH !== undefined && { query_span_h: opts.querySpanH }),
        ...(opts.minReplicas !== undefined && { min_replicas: opts.minReplicas }),
        ...(opts.maxReplicas !== undefined && { max_replicas: opts.maxReplicas }),
      });
      if (!parsedTargets.success) {
        const issue = parsedTargets.error.issues[0]!;
        throw new CliError(`invalid target ${issue.path.join('.')}: ${issue.message}`, 2);
      }
      const targets = parsedTargets.data;
      const caps = {
        ...config.caps,
        ...(opts.cpuCap !== undefined && { cpu_pp: opts.cpuCap as number }),
        ...(opts.memoryCap !== undefined && { memory_pp: opts.memoryCap as number }),
      };
      let rec: Recommendation;
      try {
        rec = predict({
          profiles,
          volume: { bytes_per_day: opts.bytesPerDay as number, events_per_second: opts.eventsPerSecond as number },
          targets,
          caps,
          calibration,
        });
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      if (skipped.length) rec.explanation.push(`Not considered (no CPU/memory profile or size yet): ${skipped.join(', ')}.`);
      if (opts.json) {
        printJson({ ...rec, calibration_source: calibration.source });
        return;
      }
      const out = process.stdout;
      out.write(rec.feasible ? `Recommended setup: ${rec.shards} shard(s) × ${rec.replicas} member(s)\n` : 'No setup fits within the caps.\n');
      for (const e of rec.explanation) out.write(`  - ${e}\n`);
      if (rec.placement.length) {
        out.write('\nPlacement (shard/member → VM: extra CPU pp, extra memory pp → CPU %, memory % after):\n');
        for (const p of rec.placement) {
          out.write(
            `  shard ${p.shard} member ${p.member} → ${p.name}: +${fmt(p.extra_cpu_pp, 2)} pp CPU, +${fmt(p.extra_memory_pp, 2)} pp memory → ${fmt(p.cpu_pct_after)}%, ${fmt(p.memory_pct_after)}%\n`,
          );
        }
      }
      out.write('\nTrade-off (same members per shard):\n');
      for (const t of rec.tradeoff) {
        out.write(`  ${String(t.shards).padStart(4)} shard(s): query ${Number.isFinite(t.query_ms) ? `${fmt(t.query_ms, 1)} ms` : 'unbounded'}${t.meets_target ? '' : ' (misses target)'}${t.placeable ? '' : ' (cannot be placed within caps)'}\n`);
      }
      if (!rec.feasible && rec.missing_vms !== null) out.write(`\nMissing VMs: ${rec.missing_vms}\n`);
      if (calibration.measured_at === null) out.write(`\nNote: calibration is provisional (${CALIBRATION_FILE}); run the benchmarks and \`metering predict-calibrate\`.\n`);
    });

  program
    .command('predict-calibrate')
    .description(
      'Derive the predictor constants from benchmark results: the benchmarks\' own output (e.g. out/bench/ingest.json: ' +
        '{benchmark, samples_per_s, mongod_cores, mongod_rss_bytes?, wiredtiger_cache_bytes?}) or the combined ' +
        '{ingest:{samples_per_s,cores}, mediation:{samples_per_s,cores}, mongod_rss_bytes}; parts not measured are kept',
    )
    .argument('<results...>', 'benchmark results JSON files (later files win for the parts they measure)')
    .option('--source <text>', 'where the results come from (command, machine, date)')
    .option('--cores <n>', 'CPU cores the mongod used, for a benchmark file that does not record it', nonNegative('--cores'))
    .option('--out <file>', 'calibration file to write (default profiler/calibration.json)')
    .action(async (files: string[], opts: { source?: string; cores?: number; out?: string }) => {
      for (const f of files) if (!existsSync(f)) throw new CliError(`${f}: no such file`, 2);
      const out = opts.out ?? CALIBRATION_FILE;
      let next;
      try {
        const { readFile } = await import('node:fs/promises');
        const results = [];
        for (const f of files) {
          let json: unknown;
          try {
            json = JSON.parse(await readFile(f, 'utf8'));
          } catch (err) {
            throw new Error(`${f}: not valid JSON: ${(err as Error).message}`);
          }
          results.push(benchResultsOf(json, f, opts.cores || undefined));
        }
        const previous = loadCalibration(existsSync(out) ? out : CALIBRATION_FILE);
        next = calibrate(mergeBenchResults(results), opts.source ?? `benchmark results ${files.map((f) => path.resolve(f)).join(', ')}`, previous);
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      await writeFile(out, JSON.stringify(next, null, 2) + '\n');
      printJson(next);
    });
};
