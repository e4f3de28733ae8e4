import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import type { AppModule, ModuleFactory } from '../../controller/app';
import type { SampleObserver } from '../../pipeline/sample';
import { LateSampleTracker } from '../mediation/late';
import { billingRoutes } from '../routes';
import { MediationModeResolver, type ModeDecision } from './capability';
import { explainRedisFailure, redactedRedisUrl, redisConnectionOptions } from './connection';
import type { BillingCycleJob } from './cycle';
import { QUEUES, openQueues, type QueueName, type QueueSet } from './queues';
import type { JobCounters, JobsRuntime } from './runtime';
import { enqueueRemediation } from './remediate';
import { RateLimitedWarn } from './availability';
import { BILLING_CYCLE, startWorkers, type Workers } from './workers';
import { FencedOutError } from '../../cluster/fence';
import { leadershipOf } from '../../cluster/leadership';
import { Periodic } from '../../lib/periodic';
import { controllerId } from '../../cluster/module';

export type { JobsRuntime, JobCounters } from './runtime';

export interface JobsModule extends AppModule {
  runtime: JobsRuntime;
}

const zero = () => Object.fromEntries(QUEUES.map((q) => [q, 0])) as Record<QueueName, number>;

/**
 * Mediation, rating, invoices and reports in the running product:
 * - a LateSampleTracker on the interception hook; every `mediation.lateDataCheckSeconds` its dirty
 *   closed periods become re-mediation jobs that chain the re-rating of their billing periods;
 * - BullMQ queues and workers on `redis.url` (keys under `redis.prefix`), and the repeatable billing
 *   cycle when `rating.invoiceSchedule` is set;
 * - routes /v1/jobs…, /v1/usage, /v1/invoices…, /v1/reports/usage; job counters in /metrics;
 * - a `redis` readiness check. When Redis cannot be reached the app still starts: readiness says
 *   why, job routes answer 503, and the queues start as soon as Redis answers.
 */
export const jobsModule: ModuleFactory = async (svc): Promise<JobsModule> => {
  const { mediation, rating, redis } = svc.config;
  const log = svc.log.child({ component: 'jobs' });
  const redisUrl = redactedRedisUrl(redis.url);
  const connection = redisConnectionOptions(redis.url, redis.tls);
  const resolver = new MediationModeResolver(svc.db, mediation.mode);
  await resolver.resolve().then(
    (mode) => log.info({ mode: mode.mode }, `mediation runs ${mode.mode}: ${mode.reason}`),
    (err: Error) => log.warn(`${err.message}; each mediation job probes again`),
  );
  const currentMode = (): ModeDecision => resolver.decision ?? { mode: 'in-place', reason: `undecided (${resolver.undecidedReason}); each job probes the store when it runs` };

  // with several controllers (cluster/): the lease holders alone schedule the billing cycle and check late data
  const cycleLead = leadershipOf(svc, 'billing-cycle');
  const lateLead = leadershipOf(svc, 'late-data');
  const controller = controllerId(svc.config.cluster);

  const counters: JobCounters = { enqueued: 0, completed: zero(), failed: zero(), lateSamples: 0, remediationJobs: 0 };
  const tracker = new LateSampleTracker(
    svc.db,
    { granularity: mediation.granularity, timezone: mediation.timezone, carrySeconds: mediation.carrySeconds },
    { usage: mediation.into, onError: (err) => log.warn({ err: err.message }, 'late-data marks could not be written') },
  );
  const observer: SampleObserver = {
    name: tracker.name,
    onStored(samples) {
      const before = tracker.pendingSamples;
      tracker.onStored(samples);
      counters.lateSamples += tracker.pendingSamples - before;
    },
  };

  let queues: QueueSet | undefined;
  let workers: Workers | undefined;
  let lastError: string | undefined = `redis at ${redisUrl}: not connected yet`;
  let starting: Promise<void> | undefined;
  let closed = false;

  // One small client watches Redis: it reconnects in the background, and the queues start when it is ready.
  const monitor = new Redis({ ...connection, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, connectTimeout: 2000, retryStrategy: (n) => Math.min(n * 500, 5000) });
  // an outage makes every connection report the same error on every reconnect attempt: log each kind once per 30 s
  const warn = new RateLimitedWarn(log);
  monitor.on('error', (err: Error) => {
    const msg = explainRedisFailure(err, redis.url);
    if (msg !== lastError) warn.warn('redis', {}, msg);
    lastError = msg;
  });
  const deps = {
    db: svc.db, collections: { source: 'meter', usage: mediation.into, rated: rating.into }, invoicePrefix: rating.invoicePrefix,
    mediationMode: async () => (await resolver.resolve()).mode,
    reads: svc.config.store.reads,
  };
  const start = async () => {
    if (queues || closed) return;
    const q = openQueues(connection, redis.prefix);
    for (const name of QUEUES) q[name].on('error', (err: Error) => warn.warn(`queue:${err.message}`, { queue: name, err: err.message }, 'queue connection error'));
    const onSettled = (name: QueueName, outcome: 'completed' | 'failed', job: Job | undefined) => {
      counters[outcome][name]++;
      if (outcome === 'failed') log.warn({ queue: name, job: job?.id, reason: job?.failedReason }, `${name} job failed for good`);
    };
    let w: Workers | undefined;
    try {
      w = startWorkers(connection, q, deps, { prefix: redis.prefix, onSettled, onError: (name, err) => warn.warn(`worker:${err.message}`, { queue: name, err: err.message }, 'worker connection error') });
      await schedule(q);
    } catch (err) {
      // close what was opened, or the process could never exit (SIGTERM would wait on these connections)
      await w?.close().catch(() => undefined);
      await q.close().catch(() => undefined);
      throw err;
    }
    workers = w;
    queues = q;
    lastError = undefined;
    log.info({ redis: redisUrl, prefix: redis.prefix }, 'job queues and workers started');
  };
  const schedule = async (q: QueueSet) => {
    if (rating.invoiceSchedule) {
      // clustered: only the billing-cycle lease holder writes the (Redis-wide, single) schedule, with its
      // fencing token in the job data; a cycle carrying an older token is refused when it runs
      const token = cycleLead.token();
      if (cycleLead.clustered && token === undefined) return;
      const data: BillingCycleJob = {
        granularity: mediation.granularity, timezone: mediation.timezone, carrySeconds: mediation.carrySeconds,
        billingPeriod: rating.billingPeriod, graceSeconds: rating.invoiceGraceSeconds, planFile: rating.plan,
        ...(rating.issueScheduledInvoices ? { issue: true } : {}),
        ...(token !== undefined ? { fence: { role: 'billing-cycle', token, controller } } : {}),
      };
      await q.invoice.upsertJobScheduler(BILLING_CYCLE, { pattern: rating.invoiceSchedule, tz: mediation.timezone }, { name: BILLING_CYCLE, data: data as never });
      log.info({ pattern: rating.invoiceSchedule, tz: mediation.timezone }, 'billing cycle scheduled');
    } else {
      await q.invoice.removeJobScheduler(BILLING_CYCLE).catch(() => undefined);
    }
  };
  let startFailure: Error | undefined;
  monitor.on('ready', () => {
    if (queues) {
      lastError = undefined; // back after an outage
      log.info({ redis: redisUrl }, 'redis reachable again: job routes answer');
      return;
    }
    starting ??= start()
      .catch((err: Error) => {
        startFailure = err;
        lastError = `job queues on ${redisUrl} could not start: ${err.message}`;
        log.warn(lastError);
      })
      .finally(() => (starting = undefined));
  });
  await monitor.connect().catch(() => undefined); // unreachable: 'error' recorded the reason, retries continue
  await starting;
  if (startFailure) {
    // Redis answered, yet the queues could not start (e.g. a schedule BullMQ refuses): a component that
    // cannot start fails `serve` with the reason, rather than running without it after one warning.
    closed = true;
    monitor.disconnect();
    const why = startFailure.message;
    throw new Error(`jobs: cannot start the job queues on ${redisUrl}${rating.invoiceSchedule ? ` (rating.invoiceSchedule "${rating.invoiceSchedule}")` : ''}: ${why}`);
  }

  const checkLateData = async (): Promise<string[]> => {
    if (!queues) return [];
    const ids = await enqueueRemediation(tracker, queues, {
      granularity: mediation.granularity, timezone: mediation.timezone, carrySeconds: mediation.carrySeconds,
      ...(existsSync(rating.plan) ? { planFile: rating.plan, billingPeriod: rating.billingPeriod } : {}),
    });
    counters.remediationJobs += ids.length;
    counters.enqueued += ids.length;
    if (ids.length) log.info({ jobs: ids }, `late samples: ${ids.length} re-mediation job(s) enqueued`);
    return ids;
  };
  // one controller drains the (shared, stored) late-data marks: the late-data lease holder, fenced; a
  // check under way when the module closes is waited for, so none runs after close
  const lateCheck = mediation.lateDataCheckSeconds > 0
    ? new Periodic(async () => {
      if (!lateLead.leading()) return;
      try {
        await lateLead.fence();
      } catch (err) {
        if (!(err instanceof FencedOutError)) throw err;
        log.warn({ err: err.message }, 'late-data check skipped: this controller may not act for the late-data role');
        return;
      }
      await checkLateData();
    }, mediation.lateDataCheckSeconds * 1000, (err) => log.warn({ err: err.message }, 'late-data check failed')).start()
    : undefined;
  // the billing-cycle lease changed hands: the new holder writes the schedule with its token; while it
  // leads it also puts its token back should a paused former holder's late write have replaced it
  let fenceTimer: NodeJS.Timeout | undefined;
  if (cycleLead.clustered && rating.invoiceSchedule) {
    const reassert = async () => {
      const token = cycleLead.token();
      if (!queues || token === undefined) return;
      const current = await queues.invoice.getJobScheduler(BILLING_CYCLE);
      if ((current?.template?.data as BillingCycleJob | undefined)?.fence?.token !== token) await schedule(queues);
    };
    cycleLead.onChange((leading) => {
      if (leading) void reassert().catch((err: Error) => log.warn({ err: err.message }, 'billing cycle could not be scheduled by the new leader'));
    });
    fenceTimer = setInterval(() => void reassert().catch((err: Error) => log.warn({ err: err.message }, 'billing cycle schedule check failed')), svc.config.cluster.renewIntervalMs);
    fenceTimer.unref();
  }

  const runtime: JobsRuntime = {
    get queues() {
      return queues;
    },
    get mode() {
      return currentMode();
    },
    tracker, counters, checkLateData,
    // the queues exist once Redis answered; while the connection is down their commands would only wait
    unavailable: () => (queues && monitor.status === 'ready' ? undefined : lastError ?? `redis at ${redisUrl}: not connected`),
  };

  svc.metrics.registerSnapshot('mediation/rating/invoice/report jobs (BullMQ): settled jobs per queue, late samples and the re-mediation jobs they caused', () => ({
    metering_jobs_enqueued_total: counters.enqueued,
    ...Object.fromEntries(QUEUES.flatMap((q) => [[`metering_jobs_${q}_completed_total`, counters.completed[q]], [`metering_jobs_${q}_failed_total`, counters.failed[q]]])),
    metering_jobs_late_samples_total: counters.lateSamples,
    metering_jobs_remediation_jobs_total: counters.remediationJobs,
    metering_jobs_redis_up: queues ? 1 : 0,
  }));

  return {
    name: 'jobs',
    runtime,
    observers: [observer],
    routes: billingRoutes(runtime, { db: svc.db, config: svc.config }),
    readiness: {
      redis: async () => {
        const why = runtime.unavailable();
        if (why) throw new Error(why);
        await monitor.ping();
      },
    },
    async close() {
      closed = true;
      if (fenceTimer) clearInterval(fenceTimer);
      await lateCheck?.close();
      await workers?.close();
      await queues?.close();
      monitor.disconnect();
    },
  };
};
