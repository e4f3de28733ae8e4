import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { Queue, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { MongoInvoiceRepository } from '../../billing/invoices/mongo-repository';
import { InvoiceImmutableError, StaleDraftError } from '../../billing/invoices/errors';
import { MediationModeResolver } from '../../billing/jobs/capability';
import { processInvoice, processMediation, processRating, mediationLockKeys } from '../../billing/jobs/processors';
import { enqueue, jobId, type QueueSet } from '../../billing/jobs/queues';
import { billableUsage } from '../../billing/mediation/billable';
import { LeaseLocks } from '../../billing/mediation/lock';
import { mediationOptions } from '../../billing/mediation/options';
import { readUsage, runMediation, runMediationInNode } from '../../billing/mediation/runner';
import { loadPlanFile, parsePlan } from '../../billing/rating/plan';
import { rateStoredUsage, readRatedLines } from '../../billing/rating/store';
import { rateUsage } from '../../billing/rating/rate';
import { parseUsage } from '../../billing/rating/usage';
import { isolation } from '../support/isolation';
import { mongoTier, redisConnection, requireRealMongo } from '../support/services';
import { testDb } from './mongo';
import { series } from './samples';

const iso = isolation(import.meta.url);
const db = testDb(iso);
const d = (s: string) => new Date(s);
const gauge = { counter_name: 'instance', counter_type: 'gauge' as const, counter_unit: 'instance' };
const DAY = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', granularity: 'day' as const, timezone: 'UTC', carrySeconds: 3600, inNode: true };
const uo = { granularity: 'day' as const, timezone: 'UTC', from: d(DAY.from), to: d(DAY.to), into: 'usage' };
const hours = async () => billableUsage(await readUsage(db, uo)).map((r) => `${r.project_id}:${r.quantity.toString()}`).sort();

describe('mediation replaces a range atomically; a crashed job leaves the previous result and the retry converges', () => {
  it('a job killed after writing its run and before the switch changes nothing readers see; a dead holder\'s lock expires; the retry converges', async () => {
    const meter = db.collection('meter');
    await meter.insertMany(series('2026-03-01T00:00:00Z', 600, 144, () => 1, { ...gauge, project_id: 'a', resource_id: 'vm-a' }).map((s) => ({ ...s })));
    await processMediation({ db }, DAY, { progress: async () => undefined });
    expect(await hours()).toEqual(['a:24']);

    // late samples of another project, then a mediation killed between its write and its switch
    await meter.insertMany(series('2026-03-01T12:00:00Z', 600, 72, () => 1, { ...gauge, project_id: 'b', resource_id: 'vm-b' }).map((s) => ({ ...s })));
    const killed = processMediation({ db, hooks: { afterWrite: () => Promise.reject(new Error('worker killed')) } }, DAY, { progress: async () => undefined });
    await expect(killed).rejects.toThrow('worker killed');
    expect(await hours()).toEqual(['a:24']); // the previous result, whole
    expect(await db.collection('usage').countDocuments()).toBeGreaterThan(1); // the dead run's orphans are there, unread

    // a killed process cannot release its lock: the lease expires and the retry takes it
    await db.collection('locks').insertOne({ _id: mediationLockKeys({ ...DAY, from: d(DAY.from), to: d(DAY.to) })[0] as never, owner: 'killed-worker', expires_at: new Date(Date.now() + 400), acquired_at: new Date() });
    await processMediation({ db }, DAY, { progress: async () => undefined });
    expect(await hours()).toEqual(['a:24', 'b:12']);
    expect(await db.collection('usage').countDocuments({ period_start: d(DAY.from) })).toBe(2); // orphans removed
  });

  it('readers racing with concurrent re-mediation jobs of the range always see one whole run, never a half-cleared range', async () => {
    const runs = Promise.all(Array.from({ length: 4 }, () => processMediation({ db }, DAY, { progress: async () => undefined })));
    const seen = new Set<string>();
    let done = false;
    void runs.finally(() => (done = true));
    while (!done) seen.add((await hours()).join(','));
    await runs;
    expect([...seen]).toEqual(['a:24,b:12']);
  });

  it('one lock per key: holders of the same key never overlap, another key is not blocked by them', async () => {
    const locks = new LeaseLocks(db, { ttlMs: 2000 });
    const log: string[] = [];
    let zEntered!: () => void;
    const entered = new Promise<void>((r) => (zEntered = r));
    let xIn!: () => void;
    const xStarted = new Promise<void>((r) => (xIn = r));
    const x = locks.withLocks(['k1'], async () => {
      log.push('x+');
      xIn();
      await entered; // holds k1 until z got k2: if k2 waited for k1 this would never end
      log.push('x-');
    });
    await xStarted;
    const y = locks.withLocks(['k1'], async () => void log.push('y+'));
    const z = locks.withLocks(['k2'], async () => {
      log.push('z+');
      zEntered();
    });
    await Promise.all([x, y, z]);
    expect(log).toEqual(['x+', 'z+', 'x-', 'y+']);
  });
});

describe('issuing is one atomic step, crash-safe at every point', () => {
  const book = parsePlan('currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: h, model: per_unit, unit_price: "0.10"}]}\n');
  const month = (m: number) => ({ period_start: `2026-0${m}-01T00:00:00Z`, period_end: `2026-0${m + 1}-01T00:00:00Z` });
  const lines = rateUsage(book, parseUsage([1, 2, 3, 4].map((m) => ({ project_id: 'a', meter: 'h', ...month(m), quantity: 100 })))).projects.flatMap((p) => p.lines);
  const period = (m: number) => ({ period_start: d(month(m).period_start), period_end: d(month(m).period_end), currency: 'EUR', lines });
  const acct = { kind: 'project' as const, project_id: 'a' };

  it('a crash right after the commit point: the next read finishes the issue; the pending correction is consumed once; a second issue answers already issued', async () => {
    const repo = new MongoInvoiceRepository(db, 'CR', { invoices: 'cr_invoices', pending: 'cr_accounts', counters: 'cr_counters' });
    await repo.ensureIndexes();
    const jan = await repo.draft({ ...period(1), account: acct });
    await repo.issue(jan.number);
    await repo.correct(jan.number, '-3.00', 'refund');
    const feb = await repo.draft({ ...period(2), account: acct });
    expect(feb.adjustments).toBe('-3.00');
    await expect(repo.issue(feb.number, new Date(), { afterCommit: () => { throw new Error('crash after commit'); } })).rejects.toThrow('crash after commit');
    expect((await repo.get(feb.number))!.status).toBe('issued');
    expect(await repo.pendingEntries(acct)).toEqual([]);
    await expect(repo.issue(feb.number)).rejects.toBeInstanceOf(InvoiceImmutableError);
    expect((await repo.draft({ ...period(3), account: acct })).adjustments).toBe('0.00'); // not applied twice
  });

  it('an upgrade moves pending entries of the old one-document-each layout into the account, once', async () => {
    await db.collection('invoice_pending').insertOne({ _id: 'OLD-1:corr:1:0' as never, account_key: 'project:legacy', entry: { kind: 'adjustment', description: 'refund', amount: '-2.00', corrects: 'OLD-1' }, created_at: new Date() });
    const repo = new MongoInvoiceRepository(db);
    await repo.ensureIndexes();
    await repo.ensureIndexes();
    expect(await repo.pendingEntries({ kind: 'project', project_id: 'legacy' })).toEqual([{ kind: 'adjustment', description: 'refund', amount: '-2.00', corrects: 'OLD-1' }]);
    expect(await db.collection('invoice_pending').countDocuments()).toBe(0);
  });

  it('two drafts carrying the same correction issued at once: one is issued, the other is stale; the refund is given once', async () => {
    const repo = new MongoInvoiceRepository(db, 'TW', { invoices: 'tw_invoices', pending: 'tw_accounts', counters: 'tw_counters' });
    await repo.ensureIndexes();
    const jan = await repo.draft({ ...period(1), account: acct });
    await repo.issue(jan.number);
    await repo.correct(jan.number, '-4.00', 'refund');
    const feb = await repo.draft({ ...period(2), account: acct });
    const mar = await repo.draft({ ...period(3), account: acct });
    const results = await Promise.allSettled([repo.issue(feb.number), repo.issue(mar.number), repo.issue(feb.number)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason instanceof StaleDraftError || r.reason instanceof InvoiceImmutableError).toBe(true);
    const issued = (await repo.list({ status: 'issued' })).filter((i) => i.number !== jan.number);
    expect(issued).toHaveLength(1);
    expect(issued[0]!.adjustments).toBe('-4.00');
    expect(await repo.pendingEntries(acct)).toEqual([]);
  });
});

describe('a re-run requested while the range runs is queued after it, not dropped', () => {
  it('enqueue of an active job id adds one follow-up; a further enqueue while that waits is a no-op', async () => {
    const connection = redisConnection();
    const prefix = `${iso.queuePrefix()}-follow`;
    const q = new Queue('rating', { connection, prefix });
    const queues = { rating: q } as unknown as QueueSet;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    const worker = new Worker('rating', async (job) => {
      ran.push(job.id!);
      if (ran.length === 1) await gate;
    }, { connection, prefix });
    try {
      const data = { from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z', granularity: 'day' as const, timezone: 'UTC', planFile: 'p.yaml', billingPeriod: 'month' as const };
      const first = await enqueue(queues, 'rating', data);
      for (let i = 0; i < 100 && (await (await q.getJob(first))!.getState()) !== 'active'; i++) await new Promise((r) => setTimeout(r, 50));
      const second = await enqueue(queues, 'rating', data);
      expect(second).toBe(`${jobId('rating', data)}|again`);
      expect(await enqueue(queues, 'rating', data)).toBe(second);
      release();
      for (let i = 0; i < 100 && ran.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(ran).toEqual([first, second]);
    } finally {
      await worker.close();
      await q.obliterate({ force: true });
      await q.close();
    }
  });
});

describe('mediation mode: in Node only when the server lacks the operators', () => {
  it('decides from the server\'s answer; a transient failure decides nothing', async () => {
    const decision = await new MediationModeResolver(db, 'auto').resolve();
    expect(decision.mode).toBe(mongoTier() === 'real' ? 'in-place' : 'in-node');
    const dead = new MongoClient('mongodb://127.0.0.1:9/?directConnection=true', { serverSelectionTimeoutMS: 300 });
    const resolver = new MediationModeResolver(dead.db('x'), 'auto');
    await expect(resolver.resolve()).rejects.toThrow(/not falling back to in-Node mediation on a transient error/);
    expect(resolver.decision).toBeUndefined();
    await dead.close();
  });
});

describe('exact quantities and DST periods', () => {
  it('byte counters above 1e12 keep every unit from mediation to the rated quantity', async () => {
    const o = mediationOptions({ from: d('2026-04-01T00:00:00Z'), to: d('2026-04-02T00:00:00Z'), projects: ['bytes'] });
    const bytes = series('2026-04-01T01:00:00Z', 600, 3, () => 1_000_000_000_001, { counter_name: 'network.outgoing.bytes.delta', counter_type: 'delta', counter_unit: 'B', project_id: 'bytes', resource_id: 'port-1' });
    const grows = series('2026-04-01T01:00:00Z', 600, 4, (i) => 123_456_789_012_345 + 7 * i, { counter_name: 'network.incoming.bytes', counter_type: 'cumulative', counter_unit: 'B', project_id: 'bytes', resource_id: 'port-1' });
    await db.collection('meter').insertMany([...bytes, ...grows].map((s) => ({ ...s })));
    await runMediationInNode(db, o);
    const q = billableUsage(await readUsage(db, o, { project_id: 'bytes' })).map((r) => [r.meter, r.quantity.toString()]).sort();
    expect(q).toEqual([['network.incoming.bytes', '21'], ['network.outgoing.bytes.delta', '3000000000003']]);
  });

  // Europe/Berlin leaves summer time on 25 October 2026: that day has 25 hours
  const berlin = mediationOptions({ from: d('2026-10-23T22:00:00Z'), to: d('2026-10-26T23:00:00Z'), granularity: 'day', timezone: 'Europe/Berlin', projects: ['dst'] });
  const dstSamples = series('2026-10-23T22:00:00Z', 600, 6 * 73, () => 1, { ...gauge, project_id: 'dst', resource_id: 'vm-dst' });
  const dstHours = async () => billableUsage(await readUsage(db, berlin, { project_id: 'dst' })).map((r) => [r.period_start.toISOString(), r.quantity.toString()]);
  const expectedDst = [['2026-10-23T22:00:00.000Z', '24'], ['2026-10-24T22:00:00.000Z', '25'], ['2026-10-25T23:00:00.000Z', '24']];

  it('Berlin\'s October change through the in-Node path: 24, 25 and 24 instance-hours', async () => {
    await db.collection('meter').insertMany(dstSamples.map((s) => ({ ...s })));
    await runMediationInNode(db, berlin);
    expect(await dstHours()).toEqual(expectedDst);
  });

  requireRealMongo('$dateTrunc/$dateAdd with a time zone (MongoDB ≥ 5.0)').it('the same through $dateTrunc in place on a real MongoDB', async () => {
    await runMediation(db, berlin);
    expect(await dstHours()).toEqual(expectedDst);
  });
});

describe('every cent billed once when billing jobs overlap or a worker dies between rating and settling', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-once-'));
  const planFile = path.join(dir, 'plan.yaml');
  writeFileSync(planFile, 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: instance, model: per_unit, unit_price: "0.05"}]}\n');
  const ctx = { progress: async () => undefined };
  const repo = new MongoInvoiceRepository(db);
  const account = (project_id: string) => ({ kind: 'project' as const, project_id });
  const mediate = (from: string, to: string) => processMediation({ db }, { from, to, granularity: 'day', timezone: 'UTC', carrySeconds: 600, inNode: true }, ctx); // a 10-minute series: each sample holds 10 minutes
  const month = (from: string, to: string) => ({ from, to, granularity: 'day' as const, timezone: 'UTC', planFile, billingPeriod: 'month' as const });
  const invoiceJob = (m: { from: string; to: string }, project: string, issue = false) => ({ from: m.from, to: m.to, granularity: 'month' as const, timezone: 'UTC', account: account(project), currency: 'EUR', issue });
  const vm = (project_id: string, resource_id: string, start: string, hoursRun: number) =>
    series(start, 600, 6 * hoursRun, () => 1, { ...gauge, project_id, resource_id }).map((s) => ({ ...s }));
  /** The month's current rated lines as `project quantity amount` (0.05 per instance-hour). */
  const rated = async (m: { from: string; to: string }) =>
    (await readRatedLines(db, { granularity: 'month', timezone: 'UTC', from: d(m.from), to: d(m.to) })).map((l) => `${l.project_id} ${l.quantity} ${l.amount}`).sort();
  /** Every stored rated line document of the month, current run or not (a second run's leftovers would show here). */
  const storedLines = (m: { from: string; to: string }) => db.collection('rated').countDocuments({ period_start_at: { $gte: d(m.from) }, period_end_at: { $lte: d(m.to) } });
  const invoicesOf = (project: string, m: { from: string; to: string }) => db.collection('invoices').find({ account_key: `project:${project}`, period_start: m.from, period_end: m.to }).toArray();

  const JUNE = month('2026-06-01T00:00:00.000Z', '2026-07-01T00:00:00.000Z');
  const AUGUST = month('2026-08-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z');
  const SEPTEMBER = month('2026-09-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z');
  const NOVEMBER = month('2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z');
  const DECEMBER = month('2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z');

  it('two ratings of one month at once give the lines of one rating, and late usage after issue is corrected once', async () => {
    await db.collection('meter').insertMany([...vm('cr1', 'vm-1', '2026-06-01T00:00:00Z', 24), ...vm('cr2', 'vm-2', '2026-06-02T00:00:00Z', 12)]);
    await mediate('2026-06-01T00:00:00.000Z', '2026-06-03T00:00:00.000Z');
    await processRating({ db }, JUNE, ctx);
    const single = await rated(JUNE);
    expect(single).toEqual(['cr1 24 1.20', 'cr2 12 0.60']);
    for (let round = 0; round < 3; round++) {
      await Promise.all([processRating({ db }, JUNE, ctx), processRating({ db }, JUNE, ctx)]);
      expect(await rated(JUNE)).toEqual(single);
      expect(await storedLines(JUNE)).toBe(2);
    }

    // June's invoice of cr1 is issued; then cr1's second VM reports six late hours of 1 June
    const issued = await processInvoice({ db }, invoiceJob(JUNE, 'cr1', true), ctx);
    expect(issued).toMatchObject({ status: 'issued', total: '1.20', lines: 1 });
    await db.collection('meter').insertMany(vm('cr1', 'vm-late', '2026-06-01T18:00:00Z', 6));
    await mediate('2026-06-01T00:00:00.000Z', '2026-06-02T00:00:00.000Z');
    for (let round = 0; round < 3; round++) {
      await Promise.all([processRating({ db }, JUNE, ctx), processRating({ db }, JUNE, ctx)]);
      expect(await rated(JUNE)).toEqual(['cr1 30 1.50', 'cr2 12 0.60']);
      expect(await storedLines(JUNE)).toBe(2);
      // the six late hours × 0.05, queued once for cr1's next invoice, whichever rating computed it
      expect((await repo.pendingEntries(account('cr1'))).map((e) => [e.kind, e.amount, e.corrects])).toEqual([['adjustment', '0.30', issued.number]]);
    }
    expect((await invoicesOf('cr1', JUNE)).map((i) => [i.status, i.total])).toEqual([['issued', '1.20']]);
  });

  it('four drafts of one account and month at once give one draft with the lines once, the pending credit once and no gap in the invoice numbers', async () => {
    // November of ci1 is billed and issued, then refunded 0.25 (pending for its next invoice)
    await db.collection('meter').insertMany([...vm('ci1', 'vm-1', '2026-11-01T00:00:00Z', 24), ...vm('ci1', 'vm-1', '2026-12-01T00:00:00Z', 24)]);
    await mediate('2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z');
    await mediate('2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z');
    await processRating({ db }, NOVEMBER, ctx);
    await processRating({ db }, DECEMBER, ctx);
    const nov = await processInvoice({ db }, invoiceJob(NOVEMBER, 'ci1', true), ctx);
    await repo.correct(nov.number, '-0.25', 'goodwill refund');
    expect(await rated(DECEMBER)).toEqual(['ci1 24 1.20']);
    for (let round = 0; round < 3; round++) {
      const [a, ...others] = await Promise.all(Array.from({ length: 4 }, () => processInvoice({ db }, invoiceJob(DECEMBER, 'ci1'), ctx)));
      for (const o of others) expect(o).toEqual(a);
      const drafts = await invoicesOf('ci1', DECEMBER);
      expect(drafts).toHaveLength(1);
      // December's 24 hours and the refund, each once
      expect(drafts[0]).toMatchObject({ _id: a.number, status: 'draft', subtotal: '1.20', adjustments: '-0.25', total: '0.95' });
      expect(drafts[0]!.lines).toHaveLength(1);
      expect(await repo.pendingEntries(account('ci1'))).toHaveLength(1);
    }
    // issuing the draft consumes the refund once
    const dec = (await invoicesOf('ci1', DECEMBER))[0]!._id as unknown as string;
    await repo.issue(dec);
    expect(await repo.pendingEntries(account('ci1'))).toEqual([]);
    // and the racing drafts took no invoice numbers of their own: the numbers run on without a gap
    const seq = (n: string) => Number(n.slice(n.lastIndexOf('-') + 1));
    const next = await processInvoice({ db }, invoiceJob(month('2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z'), 'ci1'), ctx);
    expect([seq(dec) - seq(nov.number), seq(next.number) - seq(dec)]).toEqual([1, 1]);
  });

  it('a worker killed after rating and before settling: the next rating corrects the issued invoice once, a retry adds nothing', async () => {
    await db.collection('meter').insertMany(vm('cd1', 'vm-1', '2026-08-01T00:00:00Z', 24));
    await mediate('2026-08-01T00:00:00.000Z', '2026-08-02T00:00:00.000Z');
    await processRating({ db }, AUGUST, ctx);
    const issued = await processInvoice({ db }, invoiceJob(AUGUST, 'cd1', true), ctx);
    expect(issued).toMatchObject({ status: 'issued', total: '1.20', lines: 1 });

    // twelve late hours of 1 August; the worker rates them, then dies before settling
    await db.collection('meter').insertMany(vm('cd1', 'vm-late', '2026-08-01T12:00:00Z', 12));
    await mediate('2026-08-01T00:00:00.000Z', '2026-08-02T00:00:00.000Z');
    await rateStoredUsage(db, loadPlanFile(planFile), { from: d(AUGUST.from), to: d(AUGUST.to), granularity: 'day', timezone: 'UTC', billingPeriod: 'month' });
    expect(await rated(AUGUST)).toEqual(['cd1 36 1.80']);
    expect(await repo.pendingEntries(account('cd1'))).toEqual([]); // nothing settled yet

    // the retried job rates the same lines again and settles: the difference to what was billed, once
    const retried = await processRating({ db }, AUGUST, ctx);
    expect(retried.invoices).toMatchObject([{ account: 'project:cd1', number: issued.number, action: 'corrected', corrections: [{ amount: '0.60', corrects: issued.number }] }]);
    await processRating({ db }, AUGUST, ctx); // and once more (a duplicate delivery): nothing new
    const pending = await repo.pendingEntries(account('cd1'));
    expect(pending.map((e) => [e.kind, e.amount, e.corrects, e.period_start, e.period_end])).toEqual([['adjustment', '0.60', issued.number, AUGUST.from, AUGUST.to]]);
    expect((await invoicesOf('cd1', AUGUST)).map((i) => [i.status, i.total])).toEqual([['issued', '1.20']]);

    // the next invoice carries the correction once
    const next = await processInvoice({ db }, invoiceJob(SEPTEMBER, 'cd1'), ctx);
    expect(next).toMatchObject({ status: 'draft', total: '0.60', lines: 0 });
  });
});
