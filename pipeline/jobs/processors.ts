import { writeFileSync } from 'node:fs';
import type { Db } from 'mongodb';
import { trendsToCsv, trendsToHtml, usageTrends } from '../billing/report';
import { billableUsage } from '../mediation/billable';
import { mediationOptions } from '../mediation/options';
import { readUsage, runMediation, runMediationInNode } from '../mediation/runner';
import { loadPlanFile } from '../rating/plan';
import { rateStoredUsage } from '../rating/store';
import type { MediationJob, PeriodRange, RatingJob, ReportJob } from './queues';

/** What a processor may touch. */
export interface JobDeps {
  db: Db;
  /** Collection names (defaults: meter, usage, rated). */
  collections?: { source?: string; usage?: string; rated?: string };
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
    ...range(data), carrySeconds: data.carrySeconds,
    source: deps.collections?.source ?? 'meter', into: deps.collections?.usage ?? 'usage',
  });
  await ctx.progress(5);
  const run = data.inNode ? await runMediationInNode(deps.db, o) : await runMediation(deps.db, o);
  await ctx.progress(90);
  if (data.thenRate && ctx.enqueueRating) await ctx.enqueueRating({ from: data.from, to: data.to, granularity: data.granularity, timezone: data.timezone, planFile: data.thenRate.planFile });
  await ctx.progress(100);
  return { mode: run.mode, usageDocs: run.usageDocs, bytesToClient: run.bytesToClient, durationMs: Math.round(run.durationMs) };
}

/** Rate a mediated range and store its lines (re-rating replaces them). */
export async function processRating(deps: JobDeps, data: RatingJob, ctx: JobContext) {
  const book = loadPlanFile(data.planFile); // a YamlValidationError fails the job with the located message
  await ctx.progress(10);
  const r = await rateStoredUsage(deps.db, book, { ...range(data), usage: deps.collections?.usage, into: deps.collections?.rated });
  await ctx.progress(100);
  return { projects: r.projects.map((p) => ({ project_id: p.project_id, total: p.total, currency: p.currency })), unrated: r.unrated.length };
}

/** Write a usage trend report of a range to a file. */
export async function processReport(deps: JobDeps, data: ReportJob, ctx: JobContext) {
  const docs = await readUsage(deps.db, { ...range(data), into: deps.collections?.usage ?? 'usage' });
  await ctx.progress(50);
  const report = usageTrends(billableUsage(docs));
  writeFileSync(data.out, data.format === 'csv' ? trendsToCsv(report) : data.format === 'html' ? trendsToHtml(report) : JSON.stringify(report));
  await ctx.progress(100);
  return { series: report.series.length, periods: report.periods.length, out: data.out };
}
