import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { processInvoice, processMediation, processRating, processReport, type JobDeps } from './processors';
import { enqueue, type InvoiceJob, type MediationJob, type QueueSet, type RatingJob, type ReportJob } from './queues';

export interface Workers {
  workers: Worker[];
  close(): Promise<void>;
}

/**
 * Start one worker per queue. Every processor is idempotent (deterministic ids, replace
 * semantics), so BullMQ's at-least-once delivery and retries never double-count.
 */
export function startWorkers(connection: ConnectionOptions, queues: QueueSet, deps: JobDeps, opts: { prefix?: string; concurrency?: number } = {}): Workers {
  const prefix = opts.prefix ?? 'metering';
  const concurrency = opts.concurrency ?? 1;
  const ctx = (job: Job) => ({
    progress: (pct: number) => job.updateProgress(pct),
    enqueueRating: async (data: RatingJob) => void (await enqueue(queues, 'rating', data)),
  });
  const workers = [
    new Worker<MediationJob>('mediation', (job) => processMediation(deps, job.data, ctx(job)), { connection, prefix, concurrency }),
    new Worker<RatingJob>('rating', (job) => processRating(deps, job.data, ctx(job)), { connection, prefix, concurrency }),
    new Worker<InvoiceJob>('invoice', (job) => processInvoice(deps, job.data, ctx(job)), { connection, prefix, concurrency }),
    new Worker<ReportJob>('report', (job) => processReport(deps, job.data, ctx(job)), { connection, prefix, concurrency }),
  ];
  return { workers, close: async () => void (await Promise.all(workers.map((w) => w.close()))) };
}
