import type { Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatIngestTable, runIngestBench } from './ingest';
import { formatRejectsTable, runRejectsBench } from './rejects';
import { benchMediation, formatMediationTable } from './mediation';
import { benchProfiler, type ProfilerBenchResult } from '../profiler/bench';
import { formatParseTable, runParseBench } from './parse';
import { benchCompliance, formatComplianceBench } from '../compliance/bench';

/**
 * `metering bench <name>`: the product's benchmarks. Each writes its JSON results to out/bench/<name>.json
 * and prints a table (or the JSON with --json). `bench all` runs every one listed in BENCHMARKS with its
 * defaults (`npm run bench`).
 */

interface Benchmark {
  name: string;
  description: string;
  /** Run with defaults (for `bench all`); returns the text to print. */
  runDefault: (json: boolean) => Promise<string>;
  /** Add the `bench <name>` subcommand with its own options. */
  register: (bench: Command) => void;
}

const positiveInt = (option: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${option}: expected a positive integer, got ${JSON.stringify(v)}`, 2);
  return n;
};

const ingest: Benchmark = {
  name: 'ingest',
  description: 'ingestion throughput and p50/p99 batch latency: HTTP and Kafka paths vs raw insertMany into the same MongoDB (out/bench/ingest.json)',
  runDefault: async (json) => {
    const r = await runIngestBench({ verbose: !json });
    return json ? JSON.stringify(r) + '\n' : formatIngestTable(r);
  },
  register: (bench) => {
    bench
      .command('ingest')
      .description(ingest.description)
      .option('--samples <n>', 'samples per path, real Bitbrains trace samples (default 8000 on the MongoDB stand-in, 100000 on a real mongod)', positiveInt('--samples'))
      .option('--clients <n>', 'concurrent HTTP clients', positiveInt('--clients'), 4)
      .option('--batch <n>', 'samples per HTTP body and per raw insertMany (default ingest.batchMaxSamples)', positiveInt('--batch'))
      .option('--no-kafka', 'skip the Kafka path')
      .option('--traces <dir>', 'Bitbrains trace directory (default <shared>/data/traces/bitbrains-rnd)')
      .option('--out <file>', 'results file', 'out/bench/ingest.json')
      .option('--json', 'print the results JSON instead of the table')
      .action(async (o: { samples?: number; clients: number; batch?: number; kafka: boolean; traces?: string; out: string; json?: boolean }) => {
        const r = await runIngestBench({ samples: o.samples, clients: o.clients, batch: o.batch, kafka: o.kafka, traces: o.traces, out: o.out, verbose: !o.json });
        if (o.json) printJson(r);
        else process.stdout.write(formatIngestTable(r));
      });
  },
};

const rejects: Benchmark = {
  name: 'rejects',
  description: 'cost of hostile HTTP bodies: CPU per rejected item, answer size and dead-letter documents of a body of {} items; a body over ingest.maxItemsPerBody (out/bench/rejects.json)',
  runDefault: async (json) => {
    const r = await runRejectsBench();
    writeResult('out/bench/rejects.json', r);
    return json ? JSON.stringify(r) + '\n' : formatRejectsTable(r);
  },
  register: (bench) => {
    bench
      .command('rejects')
      .description(rejects.description)
      .option('--items <n>', 'items in the all-rejected body (default ingest.maxItemsPerBody)', positiveInt('--items'))
      .option('--json', 'print the results JSON instead of the table')
      .action(async (o: { items?: number; json?: boolean }) => {
        const r = await runRejectsBench({ items: o.items });
        writeResult('out/bench/rejects.json', r);
        if (o.json) printJson(r);
        else process.stdout.write(formatRejectsTable(r));
      });
  },
};

const PROFILER_TARGET = 1_000_000;

function formatProfiler(r: ProfilerBenchResult): string {
  return [
    `profiler: ${r.samples_per_s_per_core.toLocaleString('en-US')} samples/s per core (target ${PROFILER_TARGET.toLocaleString('en-US')}: ${(r.samples_per_s_per_core / PROFILER_TARGET).toFixed(2)}x)`,
    `          ${r.bytes_per_vm.toLocaleString('en-US')} bytes per tracked VM (${r.memory_method}); ${r.samples.toLocaleString('en-US')} samples over ${r.vms} VMs, window ${r.window}, best run ${r.elapsed_ms} ms`,
    '',
  ].join('\n');
}

function writeResult(file: string, result: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
}

const profiler: Benchmark = {
  name: 'profiler',
  description: 'sliding-window profiler in process: samples/s per core and bytes of memory per tracked VM (out/bench/profiler.json)',
  runDefault: async (json) => {
    const r = await benchProfiler({ print: false });
    writeResult('out/bench/profiler.json', r);
    return json ? JSON.stringify(r) + '\n' : formatProfiler(r);
  },
  register: (bench) => {
    bench
      .command('profiler')
      .description(profiler.description)
      .option('--vms <n>', 'VMs fed', positiveInt('--vms'))
      .option('--polls <n>', 'polls per VM', positiveInt('--polls'))
      .option('--window <n>', 'window length (samples)', positiveInt('--window'))
      .option('--out <file>', 'results file', 'out/bench/profiler.json')
      .option('--json', 'print the results JSON instead of the table')
      .action(async (o: { vms?: number; polls?: number; window?: number; out: string; json?: boolean }) => {
        const r = await benchProfiler({ vms: o.vms, polls: o.polls, window: o.window, print: false });
        writeResult(o.out, r);
        if (o.json) printJson(r);
        else process.stdout.write(formatProfiler(r));
      });
  },
};

const mediation: Benchmark = {
  name: 'mediation',
  description: 'mediation + rating in place on the store vs reading the samples into Node: time, throughput, bytes to the client (out/bench/mediation.json)',
  runDefault: async (json) => {
    const r = await benchMediation({ verbose: !json });
    return json ? JSON.stringify(r) + '\n' : formatMediationTable(r) + '\n';
  },
  register: (bench) => {
    bench
      .command('mediation')
      .description(mediation.description)
      .option('--samples <n>', 'samples stored and mediated (default 200000; 10000000 is the target run on a real mongod)', positiveInt('--samples'))
      .option('--out <file>', 'results file', 'out/bench/mediation.json')
      .option('--json', 'print the results JSON instead of the table')
      .action(async (o: { samples?: number; out: string; json?: boolean }) => {
        const r = await benchMediation({ samples: o.samples, out: o.out, verbose: !o.json });
        if (o.json) printJson(r);
        else process.stdout.write(formatMediationTable(r) + '\n');
      });
  },
};

const parse: Benchmark = {
  name: 'parse',
  description: 'ingestion hot path per sample (parse, validation, signature verification, documents, resource upserts due) vs JSON.parse of the same bytes, for http bodies, Kafka messages and notification envelopes (out/bench/parse.json)',
  runDefault: async (json) => {
    const r = await runParseBench({ verbose: !json });
    writeResult('out/bench/parse.json', r);
    return json ? JSON.stringify(r) + '\n' : formatParseTable(r);
  },
  register: (bench) => {
    bench
      .command('parse')
      .description(parse.description)
      .option('--samples <n>', 'real Bitbrains trace samples per form (default 20000)', positiveInt('--samples'))
      .option('--rounds <n>', 'timed rounds per form, the median counts (default 7)', positiveInt('--rounds'))
      .option('--traces <dir>', 'Bitbrains trace directory (default <shared>/data/traces/bitbrains-rnd)')
      .option('--out <file>', 'results file', 'out/bench/parse.json')
      .option('--json', 'print the results JSON instead of the table')
      .action(async (o: { samples?: number; rounds?: number; traces?: string; out: string; json?: boolean }) => {
        const r = await runParseBench({ samples: o.samples, rounds: o.rounds, traces: o.traces, verbose: !o.json });
        writeResult(o.out, r);
        if (o.json) printJson(r);
        else process.stdout.write(formatParseTable(r));
      });
  },
};

const compliance: Benchmark = {
  name: 'compliance',
  description: 'licence rules in process: samples/s folded by the live observer and the time of one evaluation over every instance (out/bench/compliance.json)',
  runDefault: async (json) => {
    const r = benchCompliance();
    writeResult('out/bench/compliance.json', r);
    return json ? JSON.stringify(r) + '\n' : formatComplianceBench(r);
  },
  register: (bench) => {
    bench
      .command('compliance')
      .description(compliance.description)
      .option('--instances <n>', 'instances (default 20000)', positiveInt('--instances'))
      .option('--polls <n>', 'polls per instance (default 10)', positiveInt('--polls'))
      .option('--licenses <n>', 'licences (default 200)', positiveInt('--licenses'))
      .option('--out <file>', 'results file', 'out/bench/compliance.json')
      .option('--json', 'print the results JSON instead of the table')
      .action((o: { instances?: number; polls?: number; licenses?: number; out: string; json?: boolean }) => {
        const r = benchCompliance({ ...(o.instances ? { instances: o.instances } : {}), ...(o.polls ? { polls: o.polls } : {}), ...(o.licenses ? { licenses: o.licenses } : {}) });
        writeResult(o.out, r);
        if (o.json) printJson(r);
        else process.stdout.write(formatComplianceBench(r));
      });
  },
};

/** Every benchmark, in the order `bench all` runs them. */
const BENCHMARKS: Benchmark[] = [profiler, parse, ingest, mediation, rejects, compliance];

export const register: RegisterCommands = (program) => {
  const bench = program.command('bench').description('benchmarks (results in out/bench/*.json): ' + BENCHMARKS.map((b) => b.name).join(', ') + ', all');
  for (const b of BENCHMARKS) b.register(bench);
  bench
    .command('all')
    .description(`run every benchmark with its defaults (${BENCHMARKS.map((b) => b.name).join(', ')})`)
    .option('--json', 'print each result as one JSON line')
    .action(async (o: { json?: boolean }) => {
      for (const b of BENCHMARKS) {
        if (!o.json) process.stdout.write(`== bench ${b.name} ==\n`);
        process.stdout.write(await b.runDefault(!!o.json));
      }
    });
};
