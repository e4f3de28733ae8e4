import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Db } from 'mongodb';
import { trendsToCsv, trendsToHtml, usageTrends } from '../invoices/report';
import { billableUsage } from '../mediation/billable';
import { mediationOptions } from '../mediation/options';
import { addPeriods, periodStart, type Granularity } from '../mediation/periods';
import { readUsage, runMediation, runMediationInNode } from '../mediation/runner';
import { loadPlanFile, type PriceBook } from '../rating/plan';
import { rateStoredUsage } from '../rating/store';
import type { MediationJob, PeriodRange, RatingJob, ReportJob, InvoiceJob } from './queues';
import { accountProjects } from '../invoices/invoice';
import { MongoInvoiceRepository } from '../invoices/mongo-repository';
import { InvoiceImmutableError } from '../invoices/errors';
import { ensureRatedIndexes, readRatedLines } from '../rating/store';
import { settleBillingPeriods, type SettleOptions } from '../invoices/settle';
import { LeaseLocks, billingLockKeys, mediationLockKeys } from '../mediation/lock';
import type { RunHooks } from '../mediation/runner';
import { tolerantDb, type ReadRoutingConfig } from '../../pipeline/store/read-options';

/** What a processor may touch. */
export interface JobDeps {
  db: Db;
  /** Collection names (defaults: meter, usage, rated). */
  collections?: { source?: string; usage?: string; rated?: string };
  /** Invoice number prefix (default INV). */
  invoicePrefix?: string;
  /** The locks per (range, kind); default: leases in the `locks` collection of `db`. */
  locks?: LeaseLocks;
  /**
   * How mediation runs when the job does not say `inNode`: decided from the store's answer to the
   * operators (capability.ts), re-probed after a transient error. Default in place.
   */
  mediationMode?: () => Promise<'in-place' | 'in-node'>;
  /** Test seams inside a mediation run (runner.ts RunHooks). */
  hooks?: RunHooks;
  /** store.reads: report jobs read usage with its tolerant read preference (absent: the primary). */
  reads?: ReadRoutingConfig;
}

const locksOf = (deps: JobDeps) => deps.locks ?? new LeaseLocks(deps.db);

export { billingLockKeys, mediationLockKeys } from '../mediation/lock';

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
  const mode = data.inNode ? 'in-node' : deps.mediationMode ? await deps.mediationMode() : 'in-place';
  const run = await locksOf(deps).withLocks(mediationLockKeys(o), ({ assertHeld }) =>
    mode === 'in-node' ? runMediationInNode(deps.db, o, { assertHeld, ...(deps.reads?.mediation ? { sourceDb: tolerantDb(deps.db, deps.reads, 'mediation') } : {}), ...(deps.hooks ? { hooks: deps.hooks } : {}) }) : runMediation(deps.db, o, { assertHeld, ...(deps.hooks ? { hooks: deps.hooks } : {}) }),
  );
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

/** A plan must cut its effective dates in the zone the periods are cut in. */
export function checkPlanZone(book: PriceBook, planFile: string, timezone: string): void {
  if (book.timezone !== timezone) {
    // effective_from dates are local midnights in the plan's zone; periods are cut in the mediation zone
    throw new Error(
      `${planFile}: timezone is ${book.timezone} but usage is mediated in ${timezone} (mediation.timezone): ` +
        `effective_from dates would start plan versions at another midnight than the billing periods; set "timezone: ${timezone}" in the plan`,
    );
  }
}

/** Rate a mediated range and store its lines (re-rating replaces them), then settle its invoices. */
export async function processRating(deps: JobDeps, data: RatingJob, ctx: JobContext) {
  const book = loadPlanFile(data.planFile); // a YamlValidationError fails the job with the located message
  checkPlanZone(book, data.planFile, data.timezone);
  await ctx.progress(10);
  const r = await rateAndSettle(deps, data, book);
  await ctx.progress(100);
  return {
    projects: r.rating.projects.map((p) => ({ project_id: p.project_id, total: p.total, currency: p.currency })),
    unrated: r.rating.unrated.length,
    ...(r.invoices.some((i) => i.action !== 'unchanged') ? { invoices: r.invoices.filter((i) => i.action !== 'unchanged') } : {}),
  };
}

/**
 * Under the billing lock of the range: rate it (replacing its lines atomically), then settle its
 * invoices (settle.ts: redraft drafts, correct issued ones; with `draftNew` draft new ones).
 */
export async function rateAndSettle(deps: JobDeps, data: RatingJob, book: PriceBook, opts: SettleOptions = {}) {
  const r = range(data);
  const billing = data.billingPeriod ?? data.granularity;
  const repo = new MongoInvoiceRepository(deps.db, deps.invoicePrefix);
  await repo.ensureIndexes();
  await ensureRatedIndexes(deps.db, deps.collections?.rated);
  return locksOf(deps).withLocks(billingLockKeys(r), async ({ assertHeld }) => {
    const rating = await rateStoredUsage(deps.db, book, { ...r, usage: deps.collections?.usage, into: deps.collections?.rated, ...(data.billingPeriod ? { billingPeriod: data.billingPeriod } : {}), assertHeld });
    const invoices = await settleBillingPeriods(deps.db, repo, { granularity: billing, timezone: r.timezone, from: r.from, to: r.to, ...(deps.collections?.rated ? { rated: deps.collections.rated } : {}) }, opts);
    return { rating, invoices };
  });
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
  const r = range(data);
  return locksOf(deps).withLocks(billingLockKeys(r), async () => {
    const lines = await readRatedLines(deps.db, { granularity: data.granularity, timezone: data.timezone, from: r.from, to: r.to, projects: accountProjects(data.account), ...(deps.collections?.rated ? { into: deps.collections.rated } : {}) });
    await ctx.progress(40);
    let inv;
    try {
      inv = await repo.draft({ account: data.account, period_start: r.from, period_end: r.to, currency: data.currency, lines });
    } catch (err) {
      if (err instanceof InvoiceImmutableError) return { number: err.number, status: 'already issued' };
      throw err;
    }
    if (data.issue) inv = await repo.issue(inv.number);
    await ctx.progress(100);
    return { number: inv.number, status: inv.status, total: inv.total, currency: inv.currency, lines: inv.lines.length };
  });
}
