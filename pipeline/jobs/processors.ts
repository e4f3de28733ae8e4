import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Db } from 'mongodb';
import { trendsToCsv, trendsToHtml, usageTrends } from '../billing/report';
import { billableUsage } from '../mediation/billable';
import { mediationOptions } from '../mediation/options';
import { addPeriods, periodStart, type Granularity } from '../mediation/periods';
import { readUsage, runMediation, runMediationInNode } from '../mediation/runner';
import { loadPlanFile } from '../rating/plan';
import { rateStoredUsage } from '../rating/store';
import type { MediationJob, PeriodRange, RatingJob, ReportJob, InvoiceJob } from './queues';
import { accountProjects } from '../billing/invoice';
import { MongoInvoiceRepository } from '../billing/mongo-repository';
import { InvoiceImmutableError } from '../billing/repository';
import type { LineItem } from '../rating/rate';
import type { RatedLineDoc } from '../rating/store';
import { BILLING_READ, tolerantDb, type ReadRoutingConfig } from '../store/read-options';

/** What a processor may touch. */
export interface JobDeps {
  db: Db;
  /** Collection names (defaults: meter, usage, rated). */
  collections?: { source?: string; usage?: string; rated?: string };
  /** Invoice number prefix (default INV). */
  invoicePrefix?: string;
  /** store.reads: report jobs read usage with its tolerant read preference (absent: the primary). */
  reads?: ReadRoutingConfig;
}

/** The job's progress callback (BullMQ's job.updateProgress) and a way to chain work. */
export interface JobContext {
  progress(pct: number): Promise<void>;
  enqueueRating?(data: RatingJob): Promise<void>;
}

const range = (r: PeriodRange) => ({ from: new Date(r.from), to: new Date(r.to), granularity: r.granularity, timezone: r.timezone });

/**
 * Mediate a range; idempotent because results `$merge` (or upsert) under deterministic ids, so a
 * retry after a crash half-way simply redoes the range.
 */
export async function processMediation(deps: JobDeps, data: MediationJob, ctx: JobContext) {
  const o = mediationOptions({
    ...range(data), carrySeconds: data.carrySeconds, ...(data.projects?.length ? { projects: data.projects } : {}),
    source: deps.collections?.source ?? 'meter', into: deps.collections?.usage ?? 'usage',
  });
  await ctx.progress(5);
  const run = data.inNode ? await runMediationInNode(deps.reads ? tolerantDb(deps.db, deps.reads, 'mediation') : deps.db, o) : await runMediation(deps.db, o);
  await ctx.progress(90);
  if (data.thenRate && ctx.enqueueRating) await ctx.enqueueRating(chainedRating(data, data.thenRate));
  await ctx.progress(100);
  return { mode: run.mode, usageDocs: run.usageDocs, bytesToClient: run.bytesToClient, durationMs: Math.round(run.durationMs) };
}

/** The rating a mediation job chains: the same range, widened to whole billing periods when it has one. */
export function chainedRating(data: PeriodRange, then: { planFile: string; billingPeriod?: Granularity }): RatingJob {
  const job: RatingJob = { from: data.from, to: data.to, granularity: data.granularity, timezone: data.timezone, planFile: then.planFile };
  if (!then.billingPeriod) return job;
  const from = periodStart(new Date(data.from), then.billingPeriod, data.timezone);
  const lastStart = periodStart(new Date(new Date(data.to).getTime() - 1), then.billingPeriod, data.timezone);
  const to = addPeriods(lastStart, then.billingPeriod, 1, data.timezone);
  return { ...job, from: from.toISOString(), to: to.toISOString(), billingPeriod: then.billingPeriod };
}

/** Rate a mediated range and store its lines (re-rating replaces them). */
export async function processRating(deps: JobDeps, data: RatingJob, ctx: JobContext) {
  const book = loadPlanFile(data.planFile); // a YamlValidationError fails the job with the located message
  if (book.timezone !== data.timezone) {
    // effective_from dates are local midnights in the plan's zone; periods are cut in the mediation zone
    throw new Error(
      `${data.planFile}: timezone is ${book.timezone} but usage is mediated in ${data.timezone} (mediation.timezone): ` +
        `effective_from dates would start plan versions at another midnight than the billing periods; set "timezone: ${data.timezone}" in the plan`,
    );
  }
  await ctx.progress(10);
  const r = await rateStoredUsage(deps.db, book, { ...range(data), usage: deps.collections?.usage, into: deps.collections?.rated, ...(data.billingPeriod ? { billingPeriod: data.billingPeriod } : {}) });
  await ctx.progress(100);
  return { projects: r.projects.map((p) => ({ project_id: p.project_id, total: p.total, currency: p.currency })), unrated: r.unrated.length };
}

/** Write a usage trend report of a range to a file. */
export async function processReport(deps: JobDeps, data: ReportJob, ctx: JobContext) {
  mkdirSync(path.dirname(data.out), { recursive: true });
  const docs = await readUsage(deps.reads ? tolerantDb(deps.db, deps.reads, 'reports') : deps.db, { ...range(data), into: deps.collections?.usage ?? 'usage' });
  await ctx.progress(50);
  const report = usageTrends(billableUsage(docs));
  writeFileSync(data.out, data.format === 'csv' ? trendsToCsv(report) : data.format === 'html' ? trendsToHtml(report) : JSON.stringify(report));
  await ctx.progress(100);
  return { series: report.series.length, periods: report.periods.length, out: data.out };
}

/**
 * Draft (and optionally issue) an account's invoice for a range from the stored rated lines, with
 * the account's pending corrections and credit. Redrafting replaces the draft; an issued invoice
 * is left alone (the job completes reporting it), so retries and re-runs are safe.
 */
export async function processInvoice(deps: JobDeps, data: InvoiceJob, ctx: JobContext) {
  const repo = new MongoInvoiceRepository(deps.db, deps.invoicePrefix);
  await repo.ensureIndexes();
  const docs = await deps.db
    .collection<RatedLineDoc>(deps.collections?.rated ?? 'rated')
    .find({ project_id: { $in: accountProjects(data.account) }, period_start_at: { $gte: new Date(data.from) }, period_end_at: { $lte: new Date(data.to) } }, BILLING_READ)
    .sort({ _id: 1 })
    .toArray();
  const lines: LineItem[] = docs.map(({ _id, period_start_at: _s, period_end_at: _e, rated_at: _r, ...l }) => ({ id: _id, ...l }));
  await ctx.progress(40);
  let inv;
  try {
    inv = await repo.draft({ account: data.account, period_start: new Date(data.from), period_end: new Date(data.to), currency: data.currency, lines });
  } catch (err) {
    if (err instanceof InvoiceImmutableError) return { number: err.number, status: 'already issued' };
    throw err;
  }
  if (data.issue) inv = await repo.issue(inv.number);
  await ctx.progress(100);
  return { number: inv.number, status: inv.status, total: inv.total, currency: inv.currency, lines: inv.lines.length };
}
