import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, jobId, openQueues, type QueueName, type QueueSet } from '../../billing/jobs/queues';
import { startWorkers, type Workers } from '../../billing/jobs/workers';
import { enqueueRemediation } from '../../billing/jobs/remediate';
import { LateSampleTracker } from '../../billing/mediation/late';
import type { StoredSample } from '../../pipeline/sample';
import { isolation } from '../support/isolation';
import { testDb } from './mongo';
import { redisConnection } from '../support/services';
import { series } from './samples';

const iso = isolation(import.meta.url);
const db = testDb(iso);
const prefix = iso.queuePrefix();
const dir = mkdtempSync(path.join(tmpdir(), 'rating-jobs-'));
const planFile = path.join(dir, 'plan.yaml');
writeFileSync(planFile, 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: instance, model: per_unit, unit_price: "0.05"}]}\n');
const DAY = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', granularity: 'day' as const, timezone: 'UTC' };

let queues: QueueSet;
let workers: Workers;
const events = {} as Record<QueueName, QueueEvents>;

/** Resolves with the job's return value when it completes, rejects with its reason when it fails for good. */
function settled(kind: QueueName, id: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ev = events[kind];
    const done = ({ jobId: j, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      if (j !== id) return;
      ev.off('completed', done);
      ev.off('failed', fail);
      resolve(returnvalue);
    };
    const fail = ({ jobId: j, failedReason }: { jobId: string; failedReason: string }) => {
      if (j !== id) return;
      ev.off('completed', done);
      ev.off('failed', fail);
      reject(new Error(failedReason));
    };
    ev.on('completed', done);
    ev.on('failed', fail);
  });
}

beforeAll(async () => {
  await db.collection('meter').insertMany(series('2026-01-01T00:00:00Z', 600, 144, () => 1, { counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance', project_id: 'p1' }));
  const connection = redisConnection();
  queues = openQueues(connection, prefix, { attempts: 2, backoff: { type: 'fixed', delay: 50 }, removeOnComplete: true, removeOnFail: { count: 100 } });
  for (const k of ['mediation', 'rating', 'invoice', 'report'] as const) {
    events[k] = new QueueEvents(k, { connection, prefix });
    await events[k].waitUntilReady();
  }
  workers = startWorkers(connection, queues, { db }, { prefix });
});

afterAll(async () => {
  await workers?.close();
  await Promise.all(Object.values(events).map((e) => e.close()));
  if (queues) {
    for (const q of [queues.mediation, queues.rating, queues.invoice, queues.report]) await q.obliterate({ force: true });
    await queues.close();
  }
});

describe('mediation → rating → report jobs on BullMQ (Redis) and MongoDB', () => {
  it('mediates a day, chains its rating, and a report job writes the trend file', async () => {
    const rated = settled('rating', jobId('rating', DAY));
    const mediated = settled('mediation', jobId('mediation', DAY));
    await enqueue(queues, 'mediation', { ...DAY, carrySeconds: 3600, inNode: true, thenRate: { planFile } });
    expect(await mediated).toMatchObject({ mode: 'in-node', usageDocs: 1 });
    // 24 instance-hours × 0.05
    expect(await rated).toEqual({ projects: [{ project_id: 'p1', total: '1.20', currency: 'EUR' }], unrated: 0 });
    expect(await db.collection('rated').countDocuments()).toBe(1);

    const out = path.join(dir, 'trends.csv');
    const reported = settled('report', jobId('report', DAY));
    await enqueue(queues, 'report', { ...DAY, format: 'csv', out });
    expect(await reported).toEqual({ series: 1, periods: 1, out });
    expect(readFileSync(out, 'utf8')).toContain('p1,instance,instance-hours,2026-01-01T00:00:00.000Z,24');
  });

  it('re-running the same range replaces results instead of adding to them', async () => {
    const again = settled('rating', jobId('rating', DAY));
    await enqueue(queues, 'rating', { ...DAY, planFile });
    await again;
    expect(await db.collection('rated').countDocuments()).toBe(1);
  });

  it('issues the invoice from the rated lines once; a re-run leaves the issued invoice alone', async () => {
    const data = { ...DAY, account: { kind: 'project' as const, project_id: 'p1' }, currency: 'EUR', issue: true };
    const first = settled('invoice', jobId('invoice', data));
    await enqueue(queues, 'invoice', data);
    expect(await first).toEqual({ number: 'INV-000001', status: 'issued', total: '1.20', currency: 'EUR', lines: 1 });
    const second = settled('invoice', jobId('invoice', data));
    await enqueue(queues, 'invoice', data);
    expect(await second).toEqual({ number: 'INV-000001', status: 'already issued' });
    expect(await db.collection('invoices').countDocuments()).toBe(1);
  });

  it('late samples for the closed day are re-mediated and re-rated through the queues', async () => {
    // a second instance ran for the last six hours of the closed day, reported late
    const late = series('2026-01-01T18:00:00Z', 600, 36, () => 1, { counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance', project_id: 'p1', resource_id: 'vm-late' });
    await db.collection('meter').insertMany(late.map((s) => ({ ...s })));
    const tracker = new LateSampleTracker(db, { granularity: 'day', timezone: 'UTC', carrySeconds: 3600 });
    tracker.onStored(late.map((s): StoredSample => ({ ...s, resource_metadata: {}, source: 'openstack', message_signature: '', bson_size: 300, recorded_at: new Date() })));
    const rated = settled('rating', jobId('rating', DAY));
    const ids = await enqueueRemediation(tracker, queues, { granularity: 'day', timezone: 'UTC', carrySeconds: 3600, planFile, inNode: true });
    expect(ids).toEqual([jobId('mediation', DAY)]);
    // (24 + 6) instance-hours × 0.05; the day's invoice was issued (above), so the 6 late hours become
    // a correction naming it, waiting for the account's next invoice
    expect(await rated).toMatchObject({
      projects: [{ project_id: 'p1', total: '1.50', currency: 'EUR' }], unrated: 0,
      invoices: [{ account: 'project:p1', number: 'INV-000001', status: 'issued', action: 'corrected', corrections: [{ kind: 'adjustment', amount: '0.30', corrects: 'INV-000001', period_start: DAY.from, period_end: DAY.to, meter: 'instance' }] }],
    });
    expect((await db.collection('invoices').findOne({ _id: 'INV-000001' as never }))!.total).toBe('1.20');
  });

  it('enqueueing a range that is already waiting is a no-op', async () => {
    await queues.report.pause();
    const data = { ...DAY, from: '2026-01-05T00:00:00.000Z', to: '2026-01-06T00:00:00.000Z', format: 'json' as const, out: path.join(dir, 'r.json') };
    const a = await enqueue(queues, 'report', data);
    const b = await enqueue(queues, 'report', data);
    expect(a).toBe(b);
    expect(await queues.report.getJobCounts('waiting')).toEqual({ waiting: 1 });
    await queues.report.obliterate({ force: true });
    await queues.report.resume();
  });

  it('retries a failing job, then keeps it failed with the reason', async () => {
    const bad = { ...DAY, from: '2026-02-01T00:00:00.000Z', to: '2026-02-02T00:00:00.000Z', planFile: path.join(dir, 'missing.yaml') };
    const failed = settled('rating', jobId('rating', bad)).catch((e: Error) => e);
    await enqueue(queues, 'rating', bad);
    const err = await failed;
    expect(String(err)).toMatch(/missing\.yaml:0: cannot read file/);
    const job = await queues.rating.getJob(jobId('rating', bad));
    expect(job?.attemptsMade).toBe(2);
  });

  it('refuses to rate with a plan whose time zone is not the mediation time zone, saying what to set', async () => {
    const berlin = { ...DAY, from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', timezone: 'Europe/Berlin', planFile };
    const failed = settled('rating', jobId('rating', berlin)).catch((e: Error) => e);
    await enqueue(queues, 'rating', berlin);
    expect(String(await failed)).toMatch(/timezone is UTC but usage is mediated in Europe\/Berlin .*set "timezone: Europe\/Berlin" in the plan/);
  });
});
