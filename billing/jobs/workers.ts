import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { processBillingCycle, type BillingCycleJob } from './cycle';
import { processInvoice, processMediation, processRating, processReport, type JobDeps } from './processors';
import { enqueue, type InvoiceJob, type MediationJob, type QueueName, type QueueSet, type RatingJob, type ReportJob } from './queues';

export interface Workers {
  workers: Worker[];
  close(): Promise<void>;
}

/** Name of the scheduled billing-cycle job on the invoice queue. */
export const BILLING_CYCLE = 'billing-cycle';

export interface WorkerOptions {
  prefix?: string;
  concurrency?: number;
  /** Called when a job of `queue` completes or fails for good (counters). */
  onSettled?: (queue: QueueName, outcome: 'completed' | 'failed', job: Job | undefined) => void;
  /** Called on a worker's connection errors (logged by the module instead of crashing the process). */
  onError?: (queue: QueueName, err: Error) => void;
}

/**
 * Start one worker per queue. Every processor is idempotent (deterministic ids, replace
 * semantics), so BullMQ's at-least-once delivery and retries never double-count. The invoice
 * queue also runs the scheduled billing cycle (job name `billing-cycle`).
 */
export function startWorkers(connection: ConnectionOptions, queues: QueueSet, deps: JobDeps, opts: WorkerOptions = {}): Workers {
  const prefix = opts.prefix ?? 'metering';
  const concurrency = opts.concurrency ?? 1;
  const ctx = (job: Job) => ({
    progress: (pct: number) => job.updateProgress(pct),
    enqueueRating: async (data: RatingJob) => void (await enqueue(queues, 'rating', data)),
  });
  const workers: Array<[QueueName, Worker]> = [
    ['mediation', new Worker<MediationJob>('mediation', (job) => processMediation(deps, job.data, ctx(job)), { connection, prefix, concurrency })],
    ['rating', new Worker<RatingJob>('rating', (job) => processRating(deps, job.data, ctx(job)), { connection, prefix, concurrency })],
    [
      'invoice',
      new Worker<InvoiceJob | BillingCycleJob>(
        'invoice',
        (job) => (job.name === BILLING_CYCLE ? processBillingCycle(deps, job.data as BillingCycleJob, ctx(job)) : processInvoice(deps, job.data as InvoiceJob, ctx(job))),
        { connection, prefix, concurrency },
      ),
    ],
    ['report', new Worker<ReportJob>('report', (job) => processReport(deps, job.data, ctx(job)), { connection, prefix, concurrency })],
  ];
  for (const [name, w] of workers) {
    w.on('completed', (job) => opts.onSettled?.(name, 'completed', job));
    w.on('failed', (job) => {
      // a failure that will be retried is not final
      if (!job || job.attemptsMade >= (job.opts.attempts ?? 1)) opts.onSettled?.(name, 'failed', job);
    });
    w.on('error', (err) => opts.onError?.(name, err));
  }
  return { workers: workers.map(([, w]) => w), close: async () => void (await Promise.all(workers.map(([, w]) => w.close()))) };
}
