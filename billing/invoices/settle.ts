import type { Db } from 'mongodb';
import { addPeriods, type Granularity } from '../mediation/periods';
import { periodsOf } from '../mediation/runs';
import type { LineItem } from '../rating/rate';
import { readRatedLines } from '../rating/store';
import { accountHasLine, accountKey, accountProjects, type Account, type Invoice, type InvoiceEntry } from './invoice';
import type { MongoInvoiceRepository } from './mongo-repository';
import { InvoiceImmutableError, StaleDraftError } from './errors';

export interface SettleRange {
  /** The billing period unit (the rated lines' periods) and zone. */
  granularity: Granularity;
  timezone: string;
  from: Date;
  to: Date;
  /** Rated lines collection (default `rated`). */
  rated?: string;
}

export interface SettleOptions {
  /** Draft an invoice for every project with lines in a period that has none yet (the billing cycle). */
  draftNew?: boolean;
  /** Issue what is drafted (the cycle with rating.issueScheduledInvoices). */
  issue?: boolean;
  currency?: string;
}

export interface SettledInvoice {
  account: string;
  number: string;
  status: 'draft' | 'issued';
  action: 'drafted' | 'redrafted' | 'issued' | 'corrected' | 'unchanged';
  total?: string;
  corrections?: InvoiceEntry[];
}

const linesOf = (account: Account, lines: readonly LineItem[]) => {
  const projects = new Set(accountProjects(account));
  return lines.filter((l) => accountHasLine(account, projects, l));
};

/**
 * The exactly-once rule after (re-)rating billing periods: for each account with lines or an invoice
 * in a period,
 * - a draft is redrafted from the current lines (late usage before issue lands on the period's own invoice);
 * - an issued invoice stays as it is, and the difference between the current lines and what it billed
 *   (minus corrections already recorded) is queued as correction lines naming it and the period, for
 *   the account's next invoice; the account's open drafts are then redrafted so they carry them;
 * - with `draftNew`, a project without an invoice for the period gets one;
 * - an invoice over another range that overlaps these periods (several days, drafted on request) is
 *   settled over its own period by the same rule.
 * Run under the billing lock of the range (processors.ts), so it never interleaves with a re-rating.
 */
export async function settleBillingPeriods(db: Db, repo: MongoInvoiceRepository, range: SettleRange, opts: SettleOptions = {}): Promise<SettledInvoice[]> {
  const lines = await readRatedLines(db, { granularity: range.granularity, timezone: range.timezone, from: range.from, to: range.to, ...(range.rated ? { into: range.rated } : {}) });
  const out: SettledInvoice[] = [];
  for (const start of periodsOf(range.from, range.to, range.granularity, range.timezone)) {
    const end = addPeriods(start, range.granularity, 1, range.timezone);
    const periodLines = lines.filter((l) => l.period_start >= start.toISOString() && l.period_end <= end.toISOString());
    const accounts = new Map<string, { account: Account; currency?: string }>();
    for (const inv of await repo.list({ periodStart: start.toISOString(), periodEnd: end.toISOString(), limit: 100_000 })) accounts.set(accountKey(inv.account), { account: inv.account, currency: inv.currency });
    if (opts.draftNew) {
      for (const l of periodLines) {
        const account: Account = { kind: 'project', project_id: l.project_id };
        if (!accounts.has(accountKey(account))) accounts.set(accountKey(account), { account, currency: l.currency });
      }
    }
    for (const { account, currency } of accounts.values()) {
      out.push(await settleAccount(db, repo, range, account, start, end, linesOf(account, periodLines), { ...opts, currency: opts.currency ?? currency ?? 'EUR' }));
    }
  }
  // Invoices drafted over a range other than one billing period (POST /v1/jobs/invoice over several
  // days) overlap the range without being one of its periods: each is settled over its own period by
  // the same rule (redrafted while a draft, corrected once issued). The cycle never issues them.
  const settled = new Set(out.map((o) => o.number));
  for (const inv of await repo.overlapping(range.from, range.to)) {
    if (settled.has(inv.number)) continue;
    const from = new Date(inv.period_start);
    const to = new Date(inv.period_end);
    const own = await readRatedLines(db, { granularity: range.granularity, timezone: range.timezone, from, to, projects: accountProjects(inv.account), ...(range.rated ? { into: range.rated } : {}) });
    out.push(await settleAccount(db, repo, range, inv.account, from, to, linesOf(inv.account, own), { currency: inv.currency }));
  }
  return out;
}

async function settleAccount(db: Db, repo: MongoInvoiceRepository, range: SettleRange, account: Account, start: Date, end: Date, lines: LineItem[], opts: SettleOptions & { currency: string }): Promise<SettledInvoice> {
  const key = accountKey(account);
  const existing = await repo.find(account, start, end);
  if (existing?.status !== 'issued') {
    try {
      let inv = await repo.draft({ account, period_start: start, period_end: end, currency: existing?.currency ?? opts.currency, lines });
      let action: SettledInvoice['action'] = existing ? 'redrafted' : 'drafted';
      if (opts.issue) {
        inv = await issueFresh(db, repo, range, inv);
        action = 'issued';
      }
      return { account: key, number: inv.number, status: inv.status, action, total: inv.total };
    } catch (err) {
      if (!(err instanceof InvoiceImmutableError)) throw err; // issued meanwhile: correct it below
    }
  }
  const issued = (await repo.find(account, start, end))!;
  const corrections = await repo.correctFromLines(issued.number, lines);
  if (corrections.length > 0) await redraftOpenDrafts(db, repo, range, account);
  return { account: key, number: issued.number, status: 'issued', action: corrections.length ? 'corrected' : 'unchanged', total: issued.total, ...(corrections.length ? { corrections } : {}) };
}

/** Issue a draft; when it went stale (the account's pending entries changed), redraft it once and issue that. */
async function issueFresh(db: Db, repo: MongoInvoiceRepository, range: SettleRange, inv: Invoice): Promise<Invoice> {
  try {
    return await repo.issue(inv.number);
  } catch (err) {
    if (!(err instanceof StaleDraftError)) throw err;
    const again = await redraft(db, repo, range, inv);
    return repo.issue(again.number);
  }
}

async function redraft(db: Db, repo: MongoInvoiceRepository, range: SettleRange, inv: Invoice): Promise<Invoice> {
  const from = new Date(inv.period_start);
  const to = new Date(inv.period_end);
  const lines = await readRatedLines(db, { granularity: range.granularity, timezone: range.timezone, from, to, projects: accountProjects(inv.account), ...(range.rated ? { into: range.rated } : {}) });
  return repo.draft({ account: inv.account, period_start: from, period_end: to, currency: inv.currency, lines });
}

/**
 * Redraft the account's open drafts within the (locked) range, so they carry the account's current
 * pending entries. Drafts of other periods are left to their own settle: issuing one that missed a
 * new pending entry answers 409 (stale draft: redraft it), so nothing is applied twice or skipped.
 */
export async function redraftOpenDrafts(db: Db, repo: MongoInvoiceRepository, range: SettleRange, account: Account): Promise<void> {
  for (const d of await repo.openDrafts(account)) {
    if (d.period_start < range.from.toISOString() || d.period_end > range.to.toISOString()) continue;
    try {
      await redraft(db, repo, range, d);
    } catch (err) {
      if (!(err instanceof InvoiceImmutableError)) throw err; // issued meanwhile: it took what it took
    }
  }
}
