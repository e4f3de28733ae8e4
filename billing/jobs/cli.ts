import type { Command } from 'commander';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { CliError, printJson } from '../../cli/registry';
import { loadConfig, type MeteringConfig } from '../../app/config';
import { decideMediationMode, type ModeDecision } from './capability';
import { redactedRedisUrl, redisConnectionOptions } from './connection';
import { QUEUES, enqueue, openQueues, type QueueName, type QueueSet } from './queues';
import { STATES, jobDataFor, jobJson, queueOfJobId, recentJobs } from './routes';

/** Open the queues after checking Redis answers (ioredis would otherwise retry forever). */
async function withQueues<T>(cfg: MeteringConfig, fn: (q: QueueSet) => Promise<T>): Promise<T> {
  const connection = redisConnectionOptions(cfg.redis.url, cfg.redis.tls);
  const probe = new Redis({ ...connection, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new CliError(`redis at ${redactedRedisUrl(cfg.redis.url)} unreachable: ${(err as Error).message} (set redis.url or REDIS_URL; \`metering services up redis\` starts one)`, 1);
  } finally {
    probe.disconnect();
  }
  const queues = openQueues(connection, cfg.redis.prefix);
  try {
    return await fn(queues);
  } finally {
    await queues.close();
  }
}

async function mediationMode(cfg: MeteringConfig, inNode: boolean | undefined): Promise<ModeDecision> {
  if (inNode) return { mode: 'in-node', reason: '--in-node' };
  if (cfg.mediation.mode !== 'auto') return { mode: cfg.mediation.mode, reason: 'configured' };
  const client = new MongoClient(cfg.store.uri, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect();
    return await decideMediationMode(client.db(cfg.store.database), 'auto');
  } catch (err) {
    throw new CliError(`mediation.mode auto: cannot probe the store at ${cfg.store.uri}: ${(err as Error).message} (or pass --in-node)`, 1);
  } finally {
    await client.close();
  }
}

const config = (cmd: Command) => loadConfig(cmd.optsWithGlobals().config as string | undefined);

/** `metering jobs list|status|enqueue|retry`: the batch job queues (BullMQ on redis.url). */
export function registerJobsCommands(program: Command): void {
  const jobs = program.command('jobs').description('mediation, rating, invoice and report jobs on the BullMQ queues (redis.url, keys under redis.prefix)');

  jobs
    .command('list')
    .description('recent jobs of every queue (or one), newest first')
    .option('--queue <name>', `one of ${QUEUES.join(', ')}`)
    .option('--state <state>', 'waiting, active, delayed, prioritized, completed or failed')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (o: { queue?: string; state?: string; limit: string; json?: boolean }, cmd: Command) => {
      if (o.queue && !(QUEUES as readonly string[]).includes(o.queue)) throw new CliError(`--queue: expected one of ${QUEUES.join(', ')} (got "${o.queue}")`, 2);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit: expected a positive integer (got "${o.limit}")`, 2);
      if (o.state && !(STATES as readonly string[]).includes(o.state)) throw new CliError(`--state: expected one of ${STATES.join(', ')} (got "${o.state}")`, 2);
      const rows = await withQueues(config(cmd), (queues) => recentJobs(queues, { queue: o.queue as QueueName | undefined, state: o.state as (typeof STATES)[number] | undefined, limit }));
      if (o.json) return printJson(rows);
      if (rows.length === 0) return void process.stdout.write('no jobs\n');
      for (const j of rows) process.stdout.write(`${j.state.padEnd(10)} ${String(j.progress).padStart(3)}%  ${j.id}${j.failedReason ? `  (${j.failedReason})` : ''}\n`);
    });

  jobs
    .command('status <id>')
    .description('one job: state, progress, result or failure reason, attempts')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const queue = queueOfJobId(id);
      if (!queue) throw new CliError(`${id}: not a job id (ids start with ${QUEUES.join('|, ')}|)`, 2);
      const j = await withQueues(config(cmd), async (queues) => {
        const job = await queues[queue].getJob(id);
        return job ? jobJson(queue, job) : undefined;
      });
      if (!j) throw new CliError(`no job ${id}`, 1);
      printJson(j);
    });

  jobs
    .command('enqueue <kind>')
    .description(`enqueue a ${QUEUES.join(' | ')} job for whole periods (as POST /v1/jobs/<kind>)`)
    .requiredOption('--from <date>', 'first period start (YYYY-MM-DD in the zone, or ISO timestamp)')
    .requiredOption('--to <date>', 'end of the last period (exclusive)')
    .option('--granularity <unit>', 'hour, day or month (default mediation.granularity; invoices rating.billingPeriod)')
    .option('--tz <zone>', 'IANA time zone (default mediation.timezone)')
    .option('--projects <list>', 'mediation: only these projects (comma separated)')
    .option('--no-rate', 'mediation: do not chain the rating')
    .option('--in-node', 'mediation: read the samples into Node (stores without $setWindowFields)')
    .option('--project <id>', 'invoice: the project billed')
    .option('--currency <code>', 'invoice: currency (default the plan’s)')
    .option('--issue', 'invoice: issue it after drafting')
    .option('--format <f>', 'report: json, csv or html', 'html')
    .action(async (kind: string, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      if (!(QUEUES as readonly string[]).includes(kind)) throw new CliError(`kind: expected one of ${QUEUES.join(', ')} (got "${kind}")`, 2);
      const cfg = config(cmd);
      const body: Record<string, unknown> = { from: o.from, to: o.to };
      if (o.granularity) body.granularity = o.granularity;
      if (o.tz) body.timezone = o.tz;
      if (kind === 'mediation') {
        if (o.projects) body.projects = String(o.projects).split(',').filter(Boolean);
        if (o.rate === false) body.rate = false;
      }
      if (kind === 'invoice') {
        if (o.project) body.project_id = o.project;
        if (o.currency) body.currency = o.currency;
        if (o.issue) body.issue = true;
      }
      if (kind === 'report') body.format = o.format;
      const mode = kind === 'mediation' ? await mediationMode(cfg, o.inNode as boolean | undefined) : { mode: 'in-place' as const, reason: '' };
      let data;
      try {
        data = jobDataFor(kind as QueueName, body, cfg, { mode }, () => true);
      } catch (err) {
        throw new CliError((err as Error).message.replace(/^body\./, '--').replace(/^body: /, ''), 2);
      }
      const id = await withQueues(cfg, (queues) => enqueue(queues, kind as QueueName, data as never));
      process.stdout.write(`${id}\n`);
    });
}
