import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { CliError, commandGroup, printJson } from '../../cli/registry';
import { programConfig } from '../../app/config-commands';
import { QUARANTINE_COLLECTION, takeOverLegacyStore, type TakeoverReport } from './takeover';

interface MigrateOptions {
  uri?: string;
  database?: string;
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
}

const redactUri = (uri: string): string => uri.replace(/\/\/[^@/]*@/, '//***@');

function describe(report: TakeoverReport): string {
  const lines = [
    `${report.dry_run ? 'dry run: nothing written. ' : ''}database ${report.database}: ${report.documents} samples in meter, unique key (${report.unique_key.join(', ')})`,
    `${report.duplicate_groups} repeated keys; ${report.quarantined} copies ${report.dry_run ? 'would move' : 'moved'} to ${QUARANTINE_COLLECTION} (the earliest recorded copy of each is kept)`,
  ];
  if (report.conflicting_groups > 0) lines.push(`${report.conflicting_groups} of them have copies that differ in content: look at ${QUARANTINE_COLLECTION} (reason says so)`);
  for (const ex of report.examples) lines.push(`  ${JSON.stringify(ex.key)}: keep ${ex.kept}, quarantine ${ex.quarantined.join(', ')}${ex.same_content ? '' : ' (content differs)'}`);
  if (report.indexes) {
    const ix = report.indexes;
    lines.push(`indexes: created ${ix.created.length ? ix.created.join(', ') : 'none'}; changed ${ix.changed.length ? ix.changed.join(', ') : 'none'}; kept ${ix.kept.length}`);
  } else if (report.dry_run) {
    lines.push('run again without --dry-run to move them and build the indexes');
  }
  return lines.join('\n') + '\n';
}

/** `metering store migrate`: take over a database written by Ceilometer's old MongoDB driver. */
export function registerStoreCommands(program: Command): void {
  const store = commandGroup(program, 'store', 'the metering store in MongoDB: init, migrate');
  store
    .command('migrate')
    .description(
      "take over a database written by Ceilometer's old MongoDB driver: quarantine repeated message ids (keeping the earliest recorded copy; nothing is deleted), then build the store's indexes",
    )
    .option('--uri <uri>', 'MongoDB connection string (default: store.uri of the configuration)')
    .option('--database <name>', 'database holding meter (default: store.database)')
    .option('--dry-run', 'report what would move; write nothing')
    .option('--json', 'print the report as JSON')
    .option('--no-progress', 'no progress line on stderr')
    .action(async (opts: MigrateOptions) => {
      const config = programConfig(program);
      const uri = opts.uri ?? config.store.uri;
      const database = opts.database ?? config.store.database;
      const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
      try {
        await client.connect();
      } catch (err) {
        throw new CliError(`cannot reach MongoDB at ${redactUri(uri)}: ${(err as Error).message}`, 1);
      }
      const showProgress = opts.progress && !opts.json && process.stderr.isTTY;
      const started = Date.now();
      try {
        if (showProgress) process.stderr.write(`scanning meter of ${database} for repeated message ids (on the server)…\n`);
        const report = await takeOverLegacyStore(client.db(database), { ...config.store, database }, {
          dryRun: opts.dryRun,
          onProgress: showProgress
            ? (p) => {
                if (p.groupsDone % 500 === 0) process.stderr.write(`\r${p.groupsDone} repeated keys handled, ${p.quarantined} copies ${opts.dryRun ? 'to move' : 'moved'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
              }
            : undefined,
        });
        if (showProgress) process.stderr.write('\n');
        if (opts.json) printJson(report);
        else process.stdout.write(describe(report));
      } finally {
        await client.close();
      }
    });
}
