import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { isolation } from '../support/isolation';
import { redisConnection } from '../support/services';

const iso = isolation(import.meta.url);

describe('Redis (redis-server) through a BullMQ queue and worker', () => {
  const connection = redisConnection();
  const prefix = iso.queuePrefix();
  const queue = new Queue('rating', { connection, prefix });
  const events = new QueueEvents('rating', { connection, prefix });
  const seen: unknown[] = [];
  const worker = new Worker(
    'rating',
    async (job) => {
      seen.push(job.data);
      const { volume, unitPrice } = job.data as { volume: number; unitPrice: number };
      if (volume < 0) throw new Error(`negative volume ${volume}`);
      return { charge: volume * unitPrice };
    },
    { connection, prefix },
  );

  afterAll(async () => {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('a job added to the queue is processed by the worker and its result comes back', async () => {
    await events.waitUntilReady();
    const job = await queue.add('rate', { volume: 3, unitPrice: 0.5 });
    expect(await job.waitUntilFinished(events, 15_000)).toEqual({ charge: 1.5 });
    expect(seen).toContainEqual({ volume: 3, unitPrice: 0.5 });
    expect(await queue.getJobCounts('completed')).toEqual({ completed: 1 });
  });

  it('a job whose processor throws ends failed with the reason stored in Redis', async () => {
    const job = await queue.add('rate', { volume: -1, unitPrice: 1 }, { attempts: 1 });
    await expect(job.waitUntilFinished(events, 15_000)).rejects.toThrow(/negative volume -1/);
    const stored = await queue.getJob(job.id!);
    expect(stored?.failedReason).toBe('negative volume -1');
  });
});
