import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { CliError, printJson } from '../../cli/registry';
import { loadConfig } from '../../app/config';
import { mediationOptions, type MediationOptions } from './options';
import { GRANULARITIES, parseDateInZone, type Granularity } from './periods';
import { LeaseLocks, mediationLockKeys } from './lock';
import { ensureUsageIndexes, runMediation, runMediationInNode, type MediationRun } from './runner';

interface MediateOpts {
  from: string;
  to: string;
  granularity?: string;
  tz?: string;
  carry?: string;
  meters?: string;
  projects?: string;
  inNode?: boolean;
  json?: boolean;
}

/** `metering mediate`: run mediation for whole periods against the configured store. */
export function registerMediationCommands(program: Command): void {
  program
    .command('mediate')
    .description('mediate raw samples (collection meter) into per-period usage (collection usage) in place with $merge; re-running a period replaces it')
    .requiredOption('--from <date>', 'first period start (YYYY-MM-DD in --tz, or ISO timestamp)')
    .requiredOption('--to <date>', 'end of the last period (exclusive)')
    .option('--granularity <unit>', `period unit: ${GRANULARITIES.join(', ')} (default: config mediation.granularity)`)
    .option('--tz <zone>', 'IANA time zone the periods are cut in (default: config mediation.timezone)')
    .option('--carry <seconds>', 'gauge carry / counter baseline limit (default: config mediation.carrySeconds)')
    .option('--meters <list>', 'only these meters (comma separated)')
    .option('--projects <list>', 'only these projects (comma separated)')
    .option('--in-node', 'baseline: read the samples into Node, mediate there and write back (for comparison)')
    .option('--json', 'print the run as JSON')
    .action(async (opts: MediateOpts, cmd: Command) => {
      const cfg = loadConfig(cmd.optsWithGlobals().config as string | undefined);
      const m = (cfg as unknown as { mediation?: { granularity: Granularity; timezone: string; carrySeconds: number; into: string } }).mediation;
      const tz = opts.tz ?? m?.timezone ?? 'UTC';
      let o: MediationOptions;
      try {
        o = mediationOptions({
          from: parseDateInZone(opts.from, tz),
          to: parseDateInZone(opts.to, tz),
          granularity: (opts.granularity ?? m?.granularity ?? 'day') as Granularity,
          timezone: tz,
          carrySeconds: opts.carry !== undefined ? Number(opts.carry) : (m?.carrySeconds ?? 3600),
          into: m?.into ?? 'usage',
          ...(opts.meters ? { meters: opts.meters.split(',') } : {}),
          ...(opts.projects ? { projects: opts.projects.split(',') } : {}),
        });
      } catch (err) {
        throw new CliError(`mediate: ${(err as Error).message}`, 2);
      }
      const client = new MongoClient(cfg.store.uri, { serverSelectionTimeoutMS: cfg.store.serverSelectionTimeoutMs });
      try {
        const db = client.db(cfg.store.database);
        await ensureUsageIndexes(db, o.into);
        let run: MediationRun;
        try {
          // the same lock as the mediation jobs: a manual run never interleaves with the billing cycle or a re-mediation
          run = await new LeaseLocks(db).withLocks(mediationLockKeys(o), ({ assertHeld }) => (opts.inNode ? runMediationInNode(db, o, { assertHeld }) : runMediation(db, o, { assertHeld })));
        } catch (err) {
          const msg = (err as Error).message;
          if (/Unrecognized (pipeline stage|expression)|\$setWindowFields|\$dateTrunc/.test(msg)) {
            throw new CliError(`mediate: the server cannot run the mediation pipeline (${msg}); it needs MongoDB ≥ 5.0. Use --in-node on a stand-in.`, 1);
          }
          throw new CliError(`mediate: ${msg}`, 1);
        }
        const out = { ...run, from: run.from.toISOString(), to: run.to.toISOString(), durationMs: Math.round(run.durationMs) };
        delete (out as { usage?: unknown }).usage;
        if (opts.json) printJson(out);
        else process.stdout.write(`mediated ${out.from} → ${out.to} (${o.granularity}, ${o.timezone}) ${run.mode}: ${run.usageDocs} usage docs in ${out.durationMs} ms; ${run.bytesToClient} bytes to the client, ${run.bytesFromClient} from it\n`);
      } finally {
        await client.close();
      }
    });
}
