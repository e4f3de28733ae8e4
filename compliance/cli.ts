import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { loadConfig } from '../app/config';
import { YamlValidationError } from '../config/yaml-source';
import { connectStore } from '../pipeline/ingest/pipeline-factory';
import { readLicenses, type License } from './license';
import { evaluateSamples, reportOverSamples } from './offline';
import { LicenseRepository } from './repository';
import { buildReport, renderReport, REPORT_FORMATS, type ComplianceReport, type ReportFormat } from './report';
import { checkOutput, type Evaluation } from './rules';
import { readSamplesFile, SampleFileError } from './samples-file';
import { evaluateStore, seriesFromStore } from './store-reader';

/**
 * `metering license check --licenses FILE --samples FILE [--at ISO] [--active-window S] [--json]`
 *     the licence rules offline, over the http publisher's as_dict JSON list; exit 0 whatever it finds,
 *     2 on bad input (every problem as file:line: …)
 * `metering license report [--licenses FILE] [--samples FILE] [--at ISO] [--format json|csv|html] [--out FILE]`
 *     the read-only report, from files or (without --samples) from the store
 */

/** Exit code for bad input (licence file, samples file or an option). */
export const EXIT_INPUT = 2;

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseAt(v: string): Date {
  const d = ISO.test(v) ? new Date(v.length === 10 ? `${v}T00:00:00Z` : v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new CliError(`--at: expected an ISO 8601 date-time with a zone (e.g. 2026-06-01T12:00:00Z) or a date, got "${v}"`, EXIT_INPUT);
  return d;
}

function positive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new CliError(`${name}: expected a number of seconds > 0, got "${v}"`, EXIT_INPUT);
    return n;
  };
}

function inputs<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof YamlValidationError || err instanceof SampleFileError) throw new CliError(`invalid input:\n${err.message}`, EXIT_INPUT);
    throw err;
  }
}

/** Both input files, every problem of both reported at once. */
function readBoth(licensesFile: string, samplesFile: string): { licenses: License[]; samples: ReturnType<typeof readSamplesFile> } {
  const problems: string[] = [];
  let licenses: License[] = [];
  let samples: ReturnType<typeof readSamplesFile> = [];
  try {
    licenses = readLicenses(licensesFile);
  } catch (err) {
    if (!(err instanceof YamlValidationError)) throw err;
    problems.push(err.message);
  }
  try {
    samples = readSamplesFile(samplesFile);
  } catch (err) {
    if (!(err instanceof SampleFileError)) throw err;
    problems.push(err.message);
  }
  if (problems.length) throw new CliError(`invalid input:\n${problems.join('\n')}`, EXIT_INPUT);
  return { licenses, samples };
}

const show = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(' | ') : String(v));

function formatCheck(e: Evaluation): string {
  const out = checkOutput(e);
  const lines = [`Licence compliance at ${out.at} (instances active in the last ${e.active_window_s} s)`, ''];
  const w = Math.max(7, ...out.licenses.map((l) => l.id.length));
  lines.push(`${'licence'.padEnd(w)}  ${'status'.padEnd(9)}  cores used  instances`);
  for (const l of out.licenses) lines.push(`${l.id.padEnd(w)}  ${l.status.padEnd(9)}  ${String(l.cores_used).padStart(10)}  ${l.instances.join(', ') || '-'}`);
  lines.push('', out.violations.length ? `${out.violations.length} violation(s):` : 'No violations.');
  for (const v of out.violations) lines.push(`  ${v.kind}: licence ${v.license_id ?? '(none)'}${v.resource_id ? `, instance ${v.resource_id}` : ''}: assigned ${show(v.assigned)}, actual ${show(v.actual)}`);
  if (out.unverified.length) {
    lines.push('', `${out.unverified.length} unverified (the host's facts are missing):`);
    for (const u of e.unverified) lines.push(`  ${u.resource_id} under ${u.license_id}: ${u.reason}`);
  }
  return lines.join('\n') + '\n';
}

function writeReport(r: ComplianceReport, format: ReportFormat, out: string | undefined): void {
  const { body } = renderReport(r, format);
  if (!out) {
    process.stdout.write(format === 'json' ? body + '\n' : body);
    return;
  }
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(out, format === 'json' ? JSON.stringify(r, null, 2) + '\n' : body);
  process.stderr.write(`report: ${r.summary.violations} violation(s), ${r.summary.unverified} unverified, ${r.summary.licenses} licence(s) at ${r.at} → ${out}\n`);
}

export const register: RegisterCommands = (program: Command) => {
  const license = program.command('license').description('software licence compliance: assigned vs actual CPU type, class and cores');

  license
    .command('check')
    .description('check licences against Ceilometer samples offline: violations, licence status, unverified instances (exit 0 whatever it finds, 2 on bad input)')
    .requiredOption('--licenses <file>', 'licences YAML (licenses.yaml)')
    .requiredOption('--samples <file>', "samples: the http publisher's as_dict JSON list")
    .option('--at <iso>', 'evaluate at this instant (default: the newest sample time); later samples are ignored', parseAt)
    .option('--active-window <s>', 'an instance is active with a sample in (T − S, T] (default 3600)', positive('--active-window'), 3600)
    .option('--json', 'print {"at","violations":[{license_id,resource_id,kind,assigned,actual}],"licenses":[{id,status,instances,cores_used}],"unverified":[{resource_id,license_id}]}')
    .action((opts: { licenses: string; samples: string; at?: Date; activeWindow: number; json?: boolean }) => {
      const { licenses, samples } = readBoth(opts.licenses, opts.samples);
      const e = evaluateSamples(licenses, samples, { ...(opts.at ? { at: opts.at } : {}), activeWindowS: opts.activeWindow });
      if (opts.json) printJson(checkOutput(e));
      else process.stdout.write(formatCheck(e));
    });

  license
    .command('report')
    .description('read-only compliance report (JSON, CSV, or HTML with a chart of vCPUs used vs licensed over time) naming the samples it rests on; from files with --samples, else from the store')
    .option('--licenses <file>', 'licences YAML (default with --samples: required; from the store: the store\'s licence records)')
    .option('--samples <file>', "samples: the http publisher's as_dict JSON list (default: read the store of the configuration)")
    .option('--at <iso>', 'evaluate at this instant (default: the newest sample time)', parseAt)
    .option('--active-window <s>', 'active window in seconds (default: compliance.active_window_s, 3600)', positive('--active-window'))
    .option('--format <f>', `${REPORT_FORMATS.join(', ')}`, 'json')
    .option('--hours <h>', 'span of the chart before T, hours', positive('--hours'), 24)
    .option('--points <n>', 'points of the chart', positive('--points'), 48)
    .option('--out <file>', 'write the report here (default: stdout)')
    .action(async (opts: { licenses?: string; samples?: string; at?: Date; activeWindow?: number; format: string; hours: number; points: number; out?: string }) => {
      if (!(REPORT_FORMATS as readonly string[]).includes(opts.format)) throw new CliError(`--format: expected one of ${REPORT_FORMATS.join(', ')}, got "${opts.format}"`, EXIT_INPUT);
      const format = opts.format as ReportFormat;
      const points = Math.max(2, Math.min(500, Math.round(opts.points)));
      if (opts.samples) {
        if (!opts.licenses) throw new CliError('--licenses is required with --samples', EXIT_INPUT);
        const { licenses, samples } = readBoth(opts.licenses, opts.samples);
        const r = reportOverSamples(licenses, samples, { licenses: `file:${opts.licenses}`, samples: `file:${opts.samples}` }, { ...(opts.at ? { at: opts.at } : {}), activeWindowS: opts.activeWindow ?? 3600, spanS: opts.hours * 3600, points });
        writeReport(r, format, opts.out);
        return;
      }
      let config;
      try {
        config = loadConfig(program.opts<{ config?: string }>().config);
      } catch (err) {
        throw new CliError((err as Error).message, EXIT_INPUT);
      }
      const windowS = opts.activeWindow ?? config.compliance.active_window_s;
      const { client, db } = await connectStore(config.store);
      try {
        const repo = new LicenseRepository(db);
        const records = opts.licenses ? undefined : await repo.latest();
        const licenses: License[] = opts.licenses ? inputs(() => readLicenses(opts.licenses!)) : records!.map((r) => r.license);
        const progress = (n: number) => process.stderr.write(`\rreading ${db.databaseName}.meter: ${n.toLocaleString('en-US')} samples`);
        const e = await evaluateStore(db, licenses, { ...(opts.at ? { at: opts.at } : {}), activeWindowS: windowS, progress });
        process.stderr.write('\n');
        const series = await seriesFromStore(db, licenses, { at: e.at, activeWindowS: windowS, spanS: opts.hours * 3600, points, progress });
        process.stderr.write('\n');
        const r = buildReport(licenses, e, series, {
          licenses: opts.licenses ? `file:${opts.licenses}` : 'store',
          samples: `store:${db.databaseName}.meter`,
          ...(records ? { license_versions: records.map((x) => ({ id: x.id, version: x.version, hash: x.hash })) } : {}),
        });
        writeReport(r, format, opts.out);
      } finally {
        await client.close();
      }
    });
};
