import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DemoContext, DemoStep } from '../../cli/demo-context';
import { formatInvoice } from '../invoices/format';
import type { Invoice } from '../invoices/invoice';
import { addPeriods, periodStart } from '../mediation/periods';
import { loadPlanFile } from '../rating/plan';
import { rateStoredUsage } from '../rating/store';
import type { JobsModule } from './module';

/** The example price book shipped with the product (raw Ceilometer meters → billable units). */
export const EXAMPLE_PLAN = path.join(path.dirname(new URL(import.meta.url).pathname), '../rating/examples/plan.yaml');
const MAX_DAYS = 2;

const call = async <T,>(ctx: DemoContext, method: 'GET' | 'POST', url: string, payload?: object): Promise<T> => (await ctx.call(method, url, payload)).json<T>();

interface JobView { id: string; state: string; result: Record<string, unknown> | null; failedReason: string | null; attempts: number; maxAttempts: number }

async function waitForJob(ctx: DemoContext, id: string, timeoutMs = 60_000): Promise<JobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = await call<JobView>(ctx, 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
    if (j.state === 'completed') return j;
    if (j.state === 'failed' && j.attempts >= j.maxAttempts) throw new Error(`job ${id} failed: ${j.failedReason}`);
    if (Date.now() > until) throw new Error(`job ${id} still ${j.state} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * Demo chapter: the samples the earlier steps stored become money. Mediation runs as a BullMQ job
 * (in place on a real mongod; read into Node on the stand-in, which lacks $setWindowFields), the
 * usage is rated with the example plan, the busiest project gets an invoice through the invoice job,
 * and the HTML usage report is written to the demo's output directory.
 */
export const jobsDemoStep: DemoStep = {
  title: 'Mediation, rating and an invoice',
  needs: ['redis'],
  async run(ctx) {
    const mod = ctx.app.modules.find((m) => m.name === 'jobs') as JobsModule | undefined;
    if (!mod) throw new Error('the jobs module is not part of the running product (app/modules.ts)');
    const why = mod.runtime.unavailable();
    if (why) throw new Error(`job queues unavailable: ${why}`);
    const { granularity, timezone } = ctx.config.mediation;
    const meter = ctx.app.services.db.collection<{ timestamp: Date }>('meter');
    const [first] = await meter.find({}, { projection: { timestamp: 1 } }).sort({ timestamp: 1 }).limit(1).toArray();
    const [last] = await meter.find({}, { projection: { timestamp: 1 } }).sort({ timestamp: -1 }).limit(1).toArray();
    if (!first || !last) throw new Error('no samples in the meter collection: the replay and onboarding steps store them first');
    const to = addPeriods(periodStart(last.timestamp, granularity, timezone), granularity, 1, timezone);
    const earliest = periodStart(first.timestamp, granularity, timezone);
    const capped = addPeriods(to, granularity, -MAX_DAYS, timezone);
    const from = earliest > capped ? earliest : capped;
    const range = { from: from.toISOString(), to: to.toISOString() };
    const samples = await meter.countDocuments({ timestamp: { $gte: from, $lt: to } });
    ctx.say(`Stored samples ${first.timestamp.toISOString()} → ${last.timestamp.toISOString()}; mediating ${samples.toLocaleString('en')} of them in ${granularity}s of ${timezone}, ${range.from} → ${range.to}.`);

    const mode = mod.runtime.mode;
    ctx.say(mode.mode === 'in-place'
      ? `Mediation runs in place: ${mode.reason}.`
      : `Mediation runs in Node: ${mode.reason}. On a real mongod the same job runs the pipeline in place.`);
    const t0 = Date.now();
    const enq = await call<{ id: string }>(ctx, 'POST', '/v1/jobs/mediation', { ...range, rate: false });
    const mediated = await waitForJob(ctx, enq.id);
    const m = mediated.result as { mode: string; usageDocs: number; bytesToClient: number; durationMs: number };
    ctx.say(`POST /v1/jobs/mediation → job ${enq.id}: ${m.mode}, ${m.usageDocs} usage documents in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${(m.bytesToClient / 1e6).toFixed(2)} MB crossed to the client.`);

    const book = loadPlanFile(EXAMPLE_PLAN);
    const rating = await rateStoredUsage(ctx.app.services.db, book, { granularity, timezone, from, to, usage: ctx.config.mediation.into, into: ctx.config.rating.into });
    ctx.say(`Rated with ${path.relative(process.cwd(), EXAMPLE_PLAN)} (cpu ns → cpu_hours, memory MiB → GiB-hours, network bytes → egress_gb, vcpus → vcpu_hours, instance flat):`);
    for (const p of [...rating.projects].sort((a, b) => Number(b.total) - Number(a.total)).slice(0, 5)) ctx.say(`  ${p.project_id.padEnd(36)} ${p.total.padStart(10)} ${p.currency}  (${p.lines.length} lines)`);
    if (rating.unrated.length) ctx.say(`  ${rating.unrated.length} usage records have no price in the plan (e.g. ${rating.unrated[0]!.meter}); they are listed, not dropped.`);
    const top = [...rating.projects].sort((a, b) => Number(b.total) - Number(a.total))[0];
    if (!top) throw new Error('nothing rated: the stored meters have no charge in the example plan');

    const inv = await call<{ id: string }>(ctx, 'POST', '/v1/jobs/invoice', { ...range, granularity, project_id: top.project_id, currency: book.currency });
    const drafted = (await waitForJob(ctx, inv.id)).result as { number: string };
    const invoice = await call<Invoice>(ctx, 'GET', `/v1/invoices/${drafted.number}`);
    ctx.say(`POST /v1/jobs/invoice → ${drafted.number}; GET /v1/invoices/${drafted.number}:`);
    for (const line of formatInvoice(invoice).trimEnd().split('\n')) ctx.say(`  ${line}`);

    const res = await ctx.call('GET', `/v1/reports/usage?format=html&from=${range.from}&to=${range.to}`);
    await mkdir(ctx.outDir, { recursive: true });
    const file = path.join(ctx.outDir, 'usage-report.html');
    await writeFile(file, res.body);
    ctx.say(`Usage trend report (GET /v1/reports/usage?format=html): ${file}`);
    ctx.state.set('invoice', { number: drafted.number, project: top.project_id, total: invoice.total });
  },
};
