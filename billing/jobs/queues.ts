import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Granularity } from '../mediation/periods';
import type { Account } from '../invoices/invoice';

/** The batch job queues of mediation, rating, invoicing and reporting. */
export const QUEUES = ['mediation', 'rating', 'invoice', 'report'] as const;
export type QueueName = (typeof QUEUES)[number];

/** A range of whole billing periods, as JSON-safe job data. */
export interface PeriodRange {
  from: string; // ISO instant, a period start
  to: string; // ISO instant, a period boundary (exclusive)
  granularity: Granularity;
  timezone: string;
}

export interface MediationJob extends PeriodRange {
  carrySeconds: number;
  /** Only these projects (their usage documents are replaced; others are left as they are). */
  projects?: string[];
  /** Baseline mode: read samples into Node (also what works on a stand-in without $setWindowFields). */
  inNode?: boolean;
  /**
   * Enqueue the rating of the same range once mediation succeeded. With `billingPeriod` the rating
   * covers the whole billing periods the range touches (rated lines are per billing period).
   */
  thenRate?: { planFile: string; billingPeriod?: Granularity };
}

export interface RatingJob extends PeriodRange {
  planFile: string;
  /** Roll the mediated periods up to this billing period before pricing (daily usage billed monthly). */
  billingPeriod?: Granularity;
}

export interface InvoiceJob extends PeriodRange {
  account: Account;
  currency: string;
  /** Issue the invoice after drafting it (scheduled runs); otherwise it stays a draft. */
  issue?: boolean;
}

export interface ReportJob extends PeriodRange {
  format: 'json' | 'csv' | 'html';
  /** File the report is written to. */
  out: string;
}

export interface JobData {
  mediation: MediationJob;
  rating: RatingJob;
  invoice: InvoiceJob;
  report: ReportJob;
}

/**
 * Deterministic job id: the same kind of work on the same range is one job while it waits, so
 * re-enqueueing (a scheduler tick, a burst of late samples for one period) is a no-op. Completed
 * jobs are removed, so a later re-run of the range (re-mediation) can be enqueued again.
 */
export function jobId(kind: QueueName, r: PeriodRange & { account?: Account; projects?: string[] }): string {
  const parts = [kind, r.granularity, r.timezone, r.from, r.to];
  if (r.projects?.length) parts.push(`projects=${[...r.projects].sort().join(',')}`);
  if (r.account) parts.push(r.account.kind === 'group' ? `group=${r.account.group}` : r.account.kind === 'user' ? `user=${r.account.project_id}/${r.account.user_id}` : `project=${r.account.project_id}`);
  return parts.join('|').replace(/:/g, '_');
}

/**
 * Retries with exponential back-off. Completed jobs stay a day (so `GET /v1/jobs/:id` shows their
 * result; their effect is in MongoDB anyway), failures stay for inspection. `enqueue` replaces a
 * finished job of the same id, so a range can always be run again.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400, count: 1000 },
  removeOnFail: { count: 1000 },
};

export interface QueueSet {
  mediation: Queue<MediationJob>;
  rating: Queue<RatingJob>;
  invoice: Queue<InvoiceJob>;
  report: Queue<ReportJob>;
  close(): Promise<void>;
}

export function openQueues(connection: ConnectionOptions, prefix = 'metering', defaultJobOptions: JobsOptions = DEFAULT_JOB_OPTIONS): QueueSet {
  const mk = <T>(name: QueueName) => new Queue<T>(name, { connection, prefix, defaultJobOptions });
  const set = { mediation: mk<MediationJob>('mediation'), rating: mk<RatingJob>('rating'), invoice: mk<InvoiceJob>('invoice'), report: mk<ReportJob>('report') };
  return { ...set, close: async () => void (await Promise.all(Object.values(set).map((q) => q.close()))) };
}

/**
 * Enqueue idempotently under the deterministic id. A job of that id that already ran is replaced (a
 * range can always be run again); one that is still waiting already covers the request (no-op). One
 * that is RUNNING may have read its input before the change that caused this request (a late day of
 * the month it rates), so the request is queued as a follow-up (`…|again`, `…|again2`, …) that runs
 * after it instead of being dropped.
 */
export async function enqueue<K extends QueueName>(queues: QueueSet, kind: K, data: JobData[K], opts: JobsOptions = {}): Promise<string> {
  const q = queues[kind] as unknown as Queue<JobData[K]>;
  const base = jobId(kind, data);
  for (let n = 0; n < 100; n++) {
    const id = n === 0 ? base : `${base}|again${n === 1 ? '' : n}`;
    const previous = await q.getJob(id);
    if (previous) {
      const state = await previous.getState();
      if (state === 'active') continue; // running: queue a follow-up under the next id
      if (state === 'completed' || state === 'failed') await previous.remove();
      else if (state !== 'unknown') return id; // waiting, delayed, prioritized: it will see the change
    }
    const job = await q.add(kind as never, data as never, { ...opts, jobId: id });
    return job.id!;
  }
  throw new Error(`${base}: 100 runs of this range are active at once`);
}
