import type { Db } from 'mongodb';
import { billableUsage } from '../mediation/billable';
import { mediationOptions } from '../mediation/options';
import type { Granularity } from '../mediation/periods';
import { streamMediation } from '../mediation/runner';
import type { UsageDoc } from '../mediation/usage-doc';
import type { PriceBook } from '../rating/plan';
import { rateUsage } from '../rating/rate';
import { rollUpUsage, type UsageRecord } from '../rating/usage';
import { accountKey, type Account, type InvoiceEntry } from './invoice';
import { buildLedger, type AccountLedger } from './ledger';
import { MongoInvoiceRepository } from './mongo-repository';
import { reconcile, type Reconciliation } from './reconcile';

interface AccountRow {
  _id: string;
  account: Account;
  pending?: { entry: InvoiceEntry }[];
}

const accountFilter = (projects?: string[]) => (projects ? { $or: [{ 'account.project_id': { $in: projects } }, { 'account.projects': { $in: projects } }] } : {});

/** Entries waiting for each account's next invoice (of accounts including one of `projects`, or all). */
async function pendingByAccount(db: Db, projects?: string[]): Promise<Map<string, { account: Account; entries: InvoiceEntry[] }>> {
  const docs = await db.collection<AccountRow>('invoice_accounts').find(accountFilter(projects) as never).toArray();
  return new Map(docs.map((d) => [accountKey(d.account), { account: d.account, entries: (d.pending ?? []).map((p) => p.entry) }]));
}

/** The ledger of every account including one of `projects` (all accounts when absent). */
export async function readLedger(db: Db, opts: { projects?: string[]; invoicePrefix?: string } = {}): Promise<AccountLedger[]> {
  const repo = new MongoInvoiceRepository(db, opts.invoicePrefix);
  const invoices = await repo.list({ ...(opts.projects ? { projects: opts.projects } : {}), limit: 100_000 });
  return buildLedger(invoices, await pendingByAccount(db, opts.projects));
}

export interface ReconcileOptions {
  from: Date;
  to: Date;
  granularity: Granularity;
  timezone: string;
  carrySeconds: number;
  billingPeriod: Granularity;
  book: PriceBook;
  projects?: string[];
  source?: string;
  invoicePrefix?: string;
  onProgress?: (samples: number) => void;
}

/**
 * Recompute whole billing periods from the raw samples (mediated in Node, streaming; independent of
 * the `usage` and `rated` collections), rate them with the plan, and compare with what the ledger
 * billed for them per project and period.
 */
export async function reconcileFromSamples(db: Db, o: ReconcileOptions): Promise<Reconciliation & { samples: number }> {
  const mo = mediationOptions({ from: o.from, to: o.to, granularity: o.granularity, timezone: o.timezone, carrySeconds: o.carrySeconds, source: o.source ?? 'meter', exact: true, ...(o.projects ? { projects: o.projects } : {}) });
  // billable quantities rolled up per project, user, meter and billing period as the series stream by:
  // memory is one record per (project, user, meter, billing period), not one per usage document
  let records: UsageRecord[] = [];
  let docs = 0;
  const { samples } = await streamMediation(db, mo, async (batch: UsageDoc[]) => {
    records.push(...rollUpUsage(billableUsage(batch), o.billingPeriod, o.timezone));
    if (records.length > 10_000) records = rollUpUsage(records, o.billingPeriod, o.timezone);
    docs += batch.length;
    o.onProgress?.(docs);
  });
  const lines = rateUsage(o.book, rollUpUsage(records, o.billingPeriod, o.timezone)).projects.flatMap((p) => p.lines);
  const repo = new MongoInvoiceRepository(db, o.invoicePrefix);
  const invoices = (await repo.list({ ...(o.projects ? { projects: o.projects } : {}), limit: 100_000 })).filter((i) => i.period_start >= o.from.toISOString() && i.period_end <= o.to.toISOString());
  const pending = [...(await pendingByAccount(db, o.projects)).values()].flatMap((p) => p.entries);
  const inRange = (e: InvoiceEntry) => !e.period_start || (e.period_start >= o.from.toISOString() && (e.period_end ?? '') <= o.to.toISOString());
  // corrections on invoices outside the range may correct periods inside it: take every issued invoice's entries
  const issuedAll = (await repo.list({ ...(o.projects ? { projects: o.projects } : {}), status: 'issued', limit: 100_000 })).filter((i) => !invoices.some((j) => j.number === i.number));
  const correctionsElsewhere = issuedAll.flatMap((i) => i.entries.filter((e) => e.corrects && inRange(e) && e.period_start));
  // a correction on an invoice of the range that corrects a period before the range belongs to that period's reconciliation
  const scoped = invoices.map((i) => ({ ...i, entries: i.entries.filter((e) => !e.corrects || inRange(e)) }));
  const r = reconcile(lines, scoped, [...pending.filter(inRange), ...correctionsElsewhere], o.book.currency);
  return { ...r, samples };
}
