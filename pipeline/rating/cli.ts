import type { Command } from 'commander';
import { CliError, printJson } from '../../cli/registry';
import { YamlValidationError } from '../../config/yaml-source';
import { loadPlanFile, type PriceBook } from './plan';
import { loadUsageFile, UsageInputError, type UsageRecord } from './usage';
import { rateUsage } from './rate';
import { formatRating } from './format';

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
    .action((opts: { plan: string; usage: string; json?: boolean; strict?: boolean }) => {
      const { book, usage } = loadInputs(opts.plan, opts.usage);
      let result;
      try {
        result = rateUsage(book, usage);
      } catch (err) {
        throw new CliError(`cannot rate ${opts.usage}: ${(err as Error).message}`, EXIT_INPUT);
      }
      if (opts.json) printJson(result);
      else process.stdout.write(formatRating(result));
      for (const u of result.unrated) process.stderr.write(`metering: warning: unrated usage: ${u.project_id} ${u.meter} ${u.quantity}: ${u.reason}\n`);
      if (opts.strict && result.unrated.length > 0) throw new CliError(`${result.unrated.length} usage record(s) unrated`, EXIT_UNRATED);
    });
}
