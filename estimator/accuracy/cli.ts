import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { CliError, printJson } from '../../cli/registry';
import { loadConfig } from '../../app/config';
import { YamlValidationError } from '../../config/yaml-source';
import { CEILOMETER_DEFAULT_SECRET } from '../../pipeline/replay/encode';
import { PERIOD_NAMES, periodSeconds, type PeriodName } from '../onboarding/compare';
import { DEFAULT_INTERVALS, measureAccuracy } from './measure';
import { accuracyMarkdown, writeAccuracyReport } from './report';

/**
 * `metering estimate accuracy TEMPLATE… [--period day|week|month|all] [--interval S] [--out DIR] [--json]`
 * Needs a MongoDB (MONGODB_URI or store.uri); uses throw-away databases `metering_accuracy_<hex>_*`.
 */

function parsePeriods(v: string): PeriodName[] {
  if (v === 'all') return [...PERIOD_NAMES];
  const ps = v.split(',').map((s) => s.trim());
  for (const p of ps) if (!(PERIOD_NAMES as readonly string[]).includes(p)) throw new CliError(`--period must be day, week, month, all or a comma list of them, got "${p}"`, 2);
  return ps as PeriodName[];
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new CliError(`${name} expects a positive whole number, got "${v}"`, 2);
    return n;
  };
}

export function addAccuracyCommand(estimate: Command, program: Command): void {
  estimate
    .command('accuracy')
    .description('Measure estimate vs actual: ingest every sample of real templates for a simulated day/week/month into MongoDB and compare events and stored bytes (observed sizes from a warm-up stack, and priors only)')
    .argument('<templates...>', 'HOT template files (e.g. ../shared/corpus/heat-templates/hot/hello_world.yaml)')
    .option('--period <p>', 'day | week | month | all | a comma list', 'all')
    .option('--interval <s>', `polling interval in seconds for every period (default: day ${DEFAULT_INTERVALS.day}, week ${DEFAULT_INTERVALS.week}, month ${DEFAULT_INTERVALS.month})`, positiveInt('--interval'))
    .option('--out <dir>', 'directory for accuracy.json, accuracy.md and accuracy.svg', 'out/accuracy')
    .option('--max-events <n>', 'refuse a case with more samples than this', positiveInt('--max-events'), 250_000)
    .option('--warmup <which>', 'aged: the earlier stack\'s last 3 polls after running for the period (default); fresh: its first 3 polls', 'aged')
    .option('--keep', 'keep the databases instead of dropping them')
    .option('--json', 'print the report as one JSON object')
    .action(async (templates: string[], opts: { period: string; interval?: number; out: string; maxEvents: number; warmup: string; keep?: boolean; json?: boolean }) => {
      const periods = parsePeriods(opts.period);
      if (opts.warmup !== 'aged' && opts.warmup !== 'fresh') throw new CliError(`--warmup must be aged or fresh, got "${opts.warmup}"`, 2);
      for (const t of templates) if (!existsSync(t)) throw new CliError(`${t}:0: template not found`, 1);
      let config;
      try {
        config = loadConfig(program.opts().config as string | undefined);
      } catch (err) {
        throw new CliError(err instanceof YamlValidationError ? err.message : (err as Error).message, 1);
      }
      const intervals = opts.interval ? { day: opts.interval, week: opts.interval, month: opts.interval } : DEFAULT_INTERVALS;
      const client = new MongoClient(config.store.uri, { serverSelectionTimeoutMS: config.store.serverSelectionTimeoutMs });
      try {
        await client.connect();
      } catch (err) {
        throw new CliError(`cannot reach MongoDB at ${config.store.uri.replace(/\/\/[^@/]*@/, '//***@')} (set MONGODB_URI or store.uri; node bin/metering.mjs services up starts one): ${(err as Error).message}`, 1);
      }
      const bar = new SingleBar({ format: 'accuracy [{bar}] {percentage}% | {value}/{total} samples | {case}', hideCursor: true, stream: process.stderr });
      try {
        const report = await measureAccuracy({
          client,
          dbPrefix: `metering_accuracy_${randomBytes(4).toString('hex')}`,
          store: config.store,
          ingest: { ...config.ingest, telemetrySecret: CEILOMETER_DEFAULT_SECRET, signaturePolicy: 'reject', deadLetter: 'mongo' },
          templates: templates.map((file) => ({ file })),
          periods,
          intervals,
          periodSeconds: periodSeconds(config.estimator.periods),
          maxEvents: opts.maxEvents,
          keep: opts.keep,
          warmup: opts.warmup,
          onPlan: (total) => bar.start(total, 0, { case: '' }),
          onProgress: (n, label) => bar.increment(n, { case: label }),
        });
        bar.stop();
        const files = writeAccuracyReport(report, opts.out);
        if (opts.json) printJson(report);
        else process.stdout.write(`${accuracyMarkdown(report)}\nWritten: ${files.json}, ${files.markdown}, ${files.svg}\n`);
        if (!report.met) process.exitCode = 3;
      } catch (err) {
        bar.stop();
        if (err instanceof RangeError || err instanceof YamlValidationError) throw new CliError(err.message, 1);
        throw new CliError((err as Error).message, 1);
      } finally {
        await client.close();
      }
    });
}
