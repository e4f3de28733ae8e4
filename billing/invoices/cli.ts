import type { Command } from 'commander';
import { MongoClient, type Db } from 'mongodb';
import { CliError, printJson } from '../../cli/registry';
import { loadConfig, type MeteringConfig } from '../../app/config';
import { isWholeBillingRange } from '../jobs/cycle';
import { parseDateInZone } from '../mediation/periods';
import { loadPlanFile } from '../rating/plan';
import { readLedger, reconcileFromSamples } from './audit';

async function withDb<T>(cfg: MeteringConfig, fn: (db: Db) => Promise<T>): Promise<T> {
  const client = new MongoClient(cfg.store.uri, { serverSelectionTimeoutMS: cfg.store.serverSelectionTimeoutMs });
  try {
    return await fn(client.db(cfg.store.database));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`store at ${cfg.store.database}: ${(err as Error).message}`, 1);
  } finally {
    await client.close();
  }
}

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

/** `metering ledger` (the billing ledger per account) and `metering reconcile` (billed vs recomputed from the raw samples). */
export function registerLedgerCommands(program: Command): void {
  program
    .command('ledger')
    .description('the billing ledger per account: every invoice, line, correction, credit and debit with the usage period it bills (as GET /v1/ledger)')
    .option('--project <id>', 'only accounts that bill this project')
    .option('--json', 'print JSON')
    .action(async (o: { project?: string; json?: boolean }, cmd: Command) => {
      const cfg = loadConfig(cmd.optsWithGlobals().config as string | undefined);
      const accounts = await withDb(cfg, (db) => readLedger(db, { ...(o.project ? { projects: [o.project] } : {}), invoicePrefix: cfg.rating.invoicePrefix }));
      if (o.json) return printJson({ accounts });
      if (accounts.length === 0) return void process.stdout.write('no invoices\n');
      for (const a of accounts) {
        process.stdout.write(`${a.account}  issued ${a.totals.issued}  drafts ${a.totals.drafts}  pending ${a.totals.pending} ${a.currency}\n`);
        for (const e of a.entries) {
          const usage = e.usage_period_start ? `${e.usage_period_start.slice(0, 10)} → ${(e.usage_period_end ?? '').slice(0, 10)}` : '';
          process.stdout.write(`  ${pad(e.invoice ?? '(next)', 11)} ${pad(e.status, 7)} ${pad(e.kind, 10)} ${pad(usage, 25)} ${lpad(e.amount, 10)}  ${e.description}\n`);
        }
      }
    });

  program
    .command('reconcile')
    .description('recompute whole billing periods from the raw samples with the price plan and compare with what was billed (per project and period; zero difference is the goal; exit 1 when not zero)')
    .requiredOption('--from <date>', 'first billing period start (YYYY-MM-DD in mediation.timezone, or ISO)')
    .requiredOption('--to <date>', 'end of the last billing period (exclusive)')
    .option('--project <id>', 'only this project')
    .option('--plan <file>', 'price plan (default rating.plan)')
    .option('--json', 'print JSON')
    .action(async (o: { from: string; to: string; project?: string; plan?: string; json?: boolean }, cmd: Command) => {
      const cfg = loadConfig(cmd.optsWithGlobals().config as string | undefined);
      const tz = cfg.mediation.timezone;
      let from: Date;
      let to: Date;
      try {
        from = parseDateInZone(o.from, tz);
        to = parseDateInZone(o.to, tz);
      } catch (err) {
        throw new CliError(`reconcile: ${(err as Error).message}`, 2);
      }
      if (to <= from || !isWholeBillingRange(from, to, cfg.rating.billingPeriod, tz)) {
        throw new CliError(`reconcile: ${from.toISOString()} → ${to.toISOString()} is not a whole number of ${cfg.rating.billingPeriod} billing periods in ${tz}`, 2);
      }
      let book;
      try {
        book = loadPlanFile(o.plan ?? cfg.rating.plan);
      } catch (err) {
        throw new CliError(`reconcile: ${(err as Error).message}`, 2);
      }
      const r = await withDb(cfg, (db) =>
        reconcileFromSamples(db, {
          from, to, granularity: cfg.mediation.granularity, timezone: tz, carrySeconds: cfg.mediation.carrySeconds, billingPeriod: cfg.rating.billingPeriod,
          book, invoicePrefix: cfg.rating.invoicePrefix, ...(o.project ? { projects: [o.project] } : {}),
          onProgress: o.json ? undefined : (n) => void process.stderr.write(`\rrecomputing: ${n} usage documents`),
        }),
      );
      if (!o.json) process.stderr.write('\n');
      if (o.json) printJson(r);
      else {
        process.stdout.write(`${pad('project', 12)} ${pad('period', 25)} ${lpad('recomputed', 11)} ${lpad('invoiced', 10)} ${lpad('corrections', 12)} ${lpad('difference', 11)}  invoice\n`);
        for (const row of r.rows) {
          process.stdout.write(`${pad(row.project_id, 12)} ${pad(`${row.period_start.slice(0, 10)} → ${row.period_end.slice(0, 10)}`, 25)} ${lpad(row.recomputed, 11)} ${lpad(row.invoiced, 10)} ${lpad(row.corrections, 12)} ${lpad(row.difference, 11)}  ${row.invoice ?? '-'} (${row.status})\n`);
        }
        process.stdout.write(`${r.samples} samples; recomputed ${r.totals.recomputed}, billed ${r.totals.billed}, difference ${r.totals.difference} ${r.totals.currency}\n`);
      }
      if (r.totals.difference !== (0).toFixed(r.totals.difference.split('.')[1]?.length ?? 0) || r.rows.some((x) => Number(x.difference) !== 0)) process.exitCode = 1;
    });
}
