import type { Command } from 'commander';
import { CliError, printJson } from '../../cli/registry';
import { YamlValidationError } from '../../config/yaml-source';
import { loadPlanFile, type PriceBook } from './plan';
import { loadUsageFile, rollUpUsage, UsageInputError, type UsageRecord } from './usage';
import { rateUsage } from './rate';
import { formatRating } from './format';
import { writeFileSync } from 'node:fs';
import { trendsToCsv, trendsToHtml, usageTrends } from '../invoices/report';
import { buildInvoice, type Account, type InvoiceEntry } from '../invoices/invoice';
import { formatInvoice } from '../invoices/format';
import { GRANULARITIES, parseDateInZone, type Granularity } from '../mediation/periods';

/** Exit codes of `metering rate`: 0 rated, 2 bad plan or usage input, 3 unrated usage with --strict. */
export const EXIT_INPUT = 2;
export const EXIT_UNRATED = 3;

export function loadInputs(planFile: string, usageFile: string): { book: PriceBook; usage: UsageRecord[] } {
  try {
    return { book: loadPlanFile(planFile), usage: loadUsageFile(usageFile) };
  } catch (err) {
    if (err instanceof YamlValidationError || err instanceof UsageInputError) throw new CliError(`invalid input:\n${err.message}`, EXIT_INPUT);
    throw err;
  }
}

export function registerRatingCommands(program: Command): void {
  program
    .command('rate')
    .description('rate mediated usage (JSON array of {project_id, meter, period_start, period_end, quantity, unit}) with a YAML price plan; no service needed')
    .requiredOption('--plan <file>', 'price plan YAML')
    .requiredOption('--usage <file>', 'mediated usage JSON')
    .option('--json', 'print {"projects":[{project_id, lines, total, currency}], "unrated":[...]}')
    .option('--strict', `exit ${EXIT_UNRATED} when some usage has no plan or charge`)
    .option('--by <dimension>', 'project (default) or user: sum and price usage per project, or per project and user', 'project')
    .option('--period <unit>', 'roll usage up into hour, day or month billing periods (in the plan time zone) before rating')
    .action((opts: { plan: string; usage: string; json?: boolean; strict?: boolean; by: string; period?: string }) => {
      if (opts.by !== 'project' && opts.by !== 'user') throw new CliError(`--by: expected project or user (got "${opts.by}")`, EXIT_INPUT);
      if (opts.period !== undefined && !(GRANULARITIES as readonly string[]).includes(opts.period)) throw new CliError(`--period: expected ${GRANULARITIES.join(', ')} (got "${opts.period}")`, EXIT_INPUT);
      const { book, usage } = loadInputs(opts.plan, opts.usage);
      let result;
      try {
        const input = opts.period ? rollUpUsage(usage, opts.period as Granularity, book.timezone) : usage;
        result = rateUsage(book, input, { by: opts.by });
      } catch (err) {
        throw new CliError(`cannot rate ${opts.usage}: ${(err as Error).message}`, EXIT_INPUT);
      }
      if (opts.json) printJson(result);
      else process.stdout.write(formatRating(result));
      for (const u of result.unrated) process.stderr.write(`metering: warning: unrated usage: ${u.project_id} ${u.meter} ${u.quantity}: ${u.reason}\n`);
      if (opts.strict && result.unrated.length > 0) throw new CliError(`${result.unrated.length} usage record(s) unrated`, EXIT_UNRATED);
    });

  program
    .command('report')
    .description('usage trends per project and meter over time from mediated usage JSON, as JSON, CSV or a self-contained HTML page with SVG charts')
    .requiredOption('--usage <file>', 'mediated usage JSON (same format as for rate)')
    .option('--format <format>', 'json, csv or html', 'json')
    .option('--out <file>', 'write to a file instead of stdout')
    .action((opts: { usage: string; format: string; out?: string }) => {
      if (!['json', 'csv', 'html'].includes(opts.format)) throw new CliError(`--format: expected json, csv or html (got "${opts.format}")`, EXIT_INPUT);
      let usage: UsageRecord[];
      try {
        usage = loadUsageFile(opts.usage);
      } catch (err) {
        if (err instanceof UsageInputError) throw new CliError(`invalid input:\n${err.message}`, EXIT_INPUT);
        throw err;
      }
      const report = usageTrends(usage);
      const text = opts.format === 'csv' ? trendsToCsv(report) : opts.format === 'html' ? trendsToHtml(report) : JSON.stringify(report) + '\n';
      if (opts.out) writeFileSync(opts.out, text);
      else process.stdout.write(text);
    });

  program
    .command('invoice')
    .description('ad hoc draft invoice for a project (or a group of projects) and period from a plan and mediated usage, with credits and debits')
    .requiredOption('--plan <file>', 'price plan YAML')
    .requiredOption('--usage <file>', 'mediated usage JSON')
    .option('--project <id>', 'bill one project')
    .option('--group <name=p1,p2>', 'bill several projects together under a group name')
    .option('--user <project:user>', 'bill one user of a project (usage rated per user)')
    .requiredOption('--from <date>', 'period start (YYYY-MM-DD in the plan time zone, or ISO timestamp)')
    .requiredOption('--to <date>', 'period end (exclusive)')
    .option('--credit <amount:description>', 'a credit (repeatable)', collect, [])
    .option('--debit <amount:description>', 'a debit (repeatable)', collect, [])
    .option('--number <n>', 'invoice number', 'DRAFT')
    .option('--json', 'print the invoice as JSON')
    .action((opts: { plan: string; usage: string; project?: string; group?: string; user?: string; from: string; to: string; credit: string[]; debit: string[]; number: string; json?: boolean }) => {
      const { book, usage } = loadInputs(opts.plan, opts.usage);
      let account: Account;
      const given = [opts.project, opts.group, opts.user].filter((x) => x !== undefined).length;
      if (given !== 1) throw new CliError('give exactly one of --project, --group or --user', EXIT_INPUT);
      if (opts.project) account = { kind: 'project', project_id: opts.project };
      else if (opts.group) {
        const m = /^([^=]+)=(.+)$/.exec(opts.group);
        if (!m) throw new CliError('--group: expected NAME=project1,project2', EXIT_INPUT);
        account = { kind: 'group', group: m[1]!, projects: m[2]!.split(',').map((p) => p.trim()).filter(Boolean) };
      } else {
        const m = /^([^:]+):(.+)$/.exec(opts.user!);
        if (!m) throw new CliError('--user: expected PROJECT:USER', EXIT_INPUT);
        account = { kind: 'user', project_id: m[1]!, user_id: m[2]! };
      }
      let from: Date;
      let to: Date;
      try {
        from = parseDateInZone(opts.from, book.timezone);
        to = parseDateInZone(opts.to, book.timezone);
      } catch (err) {
        throw new CliError(`--from/--to: ${(err as Error).message}`, EXIT_INPUT);
      }
      const entry = (kind: 'credit' | 'debit') => (spec: string): InvoiceEntry => {
        const m = /^([0-9]+(?:\.[0-9]+)?):(.+)$/.exec(spec);
        if (!m) throw new CliError(`--${kind} "${spec}": expected AMOUNT:DESCRIPTION, e.g. 10.00:goodwill`, EXIT_INPUT);
        return { kind, amount: m[1]!, description: m[2]! };
      };
      const rating = rateUsage(book, usage, { by: account.kind === 'user' ? 'user' : 'project' });
      let invoice;
      try {
        invoice = buildInvoice({
          number: opts.number, account, period_start: from, period_end: to, currency: book.currency,
          lines: rating.projects.flatMap((p) => p.lines),
          entries: [...opts.credit.map(entry('credit')), ...opts.debit.map(entry('debit'))],
        });
      } catch (err) {
        throw new CliError((err as Error).message, EXIT_INPUT);
      }
      if (opts.json) printJson(invoice);
      else process.stdout.write(formatInvoice(invoice));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
