import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { CliError, printJson } from '../../cli/registry';
import { loadConfig } from '../../app/config';
import { textBars } from '../../lib/plot';
import { connectStore } from '../ingest/pipeline-factory';
import { reconcile, reconcileWindow, ReconcileInputError, type Reconciliation } from './reconcile';

const instant = (text: string, option: string): Date => {
  const d = new Date(text);
  if (Number.isNaN(+d)) throw new CliError(`${option}: expected an ISO-8601 date-time, got ${JSON.stringify(text)}`, 2);
  return d;
};

/** The human form of a reconciliation: totals, the differences (worst first) and a bar per differing hour. */
export function formatReconciliation(r: Reconciliation, shown = 20): string {
  const lines = [
    `reconciliation ${r.from} → ${r.to} (${r.hours} h${r.project ? `, project ${r.project}` : ''}): ${r.resources} resources, ${r.pairs} resource-hours`,
    `  ledger (stored by ingestion) ${r.accepted_total} samples, store holds ${r.stored_total}`,
    r.ok ? '  every resource-hour matches' : `  ${r.differing} resource-hours differ: ${r.missing_samples} samples missing from the store, ${r.unaccounted_samples} unaccounted for by the ledger`,
    ...r.notes.map((n) => `  note: ${n}`),
  ];
  if (!r.ok) {
    lines.push('', '  hour                  resource                                  ledger   store   diff  kind');
    for (const d of r.differences.slice(0, shown)) {
      lines.push(`  ${d.hour}  ${d.resource_id.slice(0, 40).padEnd(40)} ${String(d.accepted).padStart(7)} ${String(d.stored).padStart(7)} ${String(d.difference).padStart(6)}  ${d.kind}`);
    }
    if (r.differing > shown) lines.push(`  … ${r.differing - shown} more (--json lists up to monitor.reconcileMaxRows)`);
    const perHour = new Map<string, number>();
    for (const d of r.differences) perHour.set(d.hour, (perHour.get(d.hour) ?? 0) + Math.abs(d.difference));
    lines.push('', '  samples differing per hour:', textBars([...perHour].sort().map(([hour, value]) => ({ label: hour, value }))));
  }
  return lines.join('\n');
}

/** `metering pipeline reconcile`: compare the ledger with the store, straight on the store (no controller needed). */
export function registerMonitorCommands(program: Command): void {
  const pipeline = program.commands.find((c) => c.name() === 'pipeline') ?? program.command('pipeline').description('the ingestion pipeline watching itself');
  pipeline
    .command('reconcile')
    .description('compare, per resource and hour, the samples ingestion stored (its ledger) with what the store holds; exit 1 when any differ')
    .option('--from <time>', 'first hour, ISO-8601 (default: 24 h before --to)')
    .option('--to <time>', 'end, ISO-8601 (default: the end of the current hour)')
    .option('--project <id>', 'only this project')
    .option('--json', 'print the result as one JSON object')
    .option('--no-progress', 'no progress bar on stderr')
    .action(async (opts: { from?: string; to?: string; project?: string; json?: boolean; progress: boolean }) => {
      const config = loadConfig(program.opts<{ config?: string }>().config);
      let window;
      try {
        window = reconcileWindow({ ...(opts.from ? { from: instant(opts.from, '--from') } : {}), ...(opts.to ? { to: instant(opts.to, '--to') } : {}), maxHours: config.monitor.reconcileMaxHours, ttlSeconds: config.store.ttlSeconds });
      } catch (err) {
        if (err instanceof ReconcileInputError) throw new CliError(err.message, 2);
        throw err;
      }
      const { client, db } = await connectStore(config.store);
      const bar = opts.progress && process.stderr.isTTY ? new SingleBar({ format: 'reconciling {bar} {value}/{total} hours', stream: process.stderr }) : undefined;
      try {
        bar?.start((+window.to - +window.from) / 3_600_000, 0);
        const result = await reconcile(db, { window, ...(opts.project ? { project: opts.project } : {}), maxRows: config.monitor.reconcileMaxRows, onProgress: (done) => bar?.update(done) });
        bar?.stop();
        if (opts.json) printJson(result);
        else process.stdout.write(formatReconciliation(result) + '\n');
        if (!result.ok) process.exitCode = 1;
      } finally {
        bar?.stop();
        await client.close();
      }
    });
}
