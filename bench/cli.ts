import type { Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { formatIngestTable, runIngestBench } from './ingest';

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

/**
 * Every benchmark, in the order `bench all` runs them. Add new ones here:
 *  - profiler:  `bench profiler`  (profiler/bench.ts benchProfiler)   ← to be added
 *  - mediation: `bench mediation` (pipeline/mediation)                ← to be added
 */
const BENCHMARKS: Benchmark[] = [ingest];

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
