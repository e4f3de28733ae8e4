import { Dec, formatMoney, plain, roundMoney } from './money';
import { priceCharge } from './pricing';
import { selectPlan, type Charge, type PlanVersion, type PriceBook } from './plan';
import type { UsageRecord } from './usage';
import { conversionFactor } from './units';

/** A rated line item: one charge of one plan for one project and period. All numbers are strings. */
export interface LineItem {
  id: string;
  project_id: string;
  /** Set when rating per user (`by: 'user'`). */
  user_id?: string;
  plan_id: string;
  plan_effective_from: string;
  meter: string;
  model: Charge['model'];
  period_start: string;
  period_end: string;
  quantity: string;
  unit?: string;
  free: string;
  billable: string;
  steps: { tier?: number; quantity: string; unit_price: string; amount: string }[];
  minimum_applied: boolean;
  amount: string;
  currency: string;
}

export interface ProjectRating {
  project_id: string;
  /** Set when rating per user: one entry per project and user. */
  user_id?: string;
  lines: LineItem[];
  total: string;
  currency: string;
}

/** Usage that no plan or charge priced, with the reason (never silently dropped). */
export interface UnratedUsage {
  project_id: string;
  user_id?: string;
  meter: string;
  period_start: string;
  period_end: string;
  quantity: string;
  reason: string;
}

export interface RatingResult {
  currency: string;
  projects: ProjectRating[];
  unrated: UnratedUsage[];
}

/** Deterministic id of a line: re-rating the same project (user), period and meter yields the same id. */
export function lineId(projectId: string, periodStart: string, periodEnd: string, meter: string, userId?: string): string {
  return userId === undefined ? `${projectId}|${periodStart}|${periodEnd}|${meter}` : `${projectId}|${userId}|${periodStart}|${periodEnd}|${meter}`;
}

/**
 * `project` (default): a project's usage of a meter in a period is summed, then priced.
 * `user`: the same per project and user (showback or per-user invoices; tiers, free units and
 * minimums then apply per user). Usage without a user_id is rated under user "(none)".
 */
export type RateBy = 'project' | 'user';
export const NO_USER = '(none)';

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Group {
  project_id: string;
  user_id?: string;
  start: Date;
  end: Date;
  usage: UsageRecord[];
}

/** Sum the group's usage that feeds `charge`, converted to the charge's unit; errors name the record. */
function chargeQuantity(charge: Charge, usage: UsageRecord[], used: Set<UsageRecord>): { qty: Dec; unit?: string; matched: boolean } {
  const rawMeter = charge.source?.meter ?? charge.meter;
  let qty = new Dec(0);
  let matched = false;
  let unit: string | undefined = charge.source?.to;
  for (const u of usage) {
    if (u.meter !== rawMeter) continue;
    let factor = new Dec(1);
    if (charge.source?.unit !== undefined && charge.source.to !== undefined) {
      // usage in the plan's source unit, or in another unit of the same dimension (s instead of ns)
      const from = u.unit ?? charge.source.unit;
      try {
        factor = conversionFactor(from, charge.source.to);
      } catch (err) {
        throw new Error(`usage of meter "${u.meter}" for project "${u.project_id}" is in ${from}, which charge "${charge.meter}" cannot convert: ${(err as Error).message}`);
      }
    }
    if (charge.source?.factor) factor = factor.times(charge.source.factor);
    qty = qty.plus(u.quantity.times(factor));
    matched = true;
    used.add(u);
    if (unit === undefined) unit = u.unit;
  }
  return { qty, unit, matched };
}

/**
 * Rate mediated usage with a price book. Usage of a project and meter within one period is summed
 * first; each plan charge with usage becomes one line rounded to the currency's minor unit; a
 * project's total is the sum of its rounded lines. Pure: the same input always gives the same
 * output, so re-rating a period reproduces (and, stored by line id, replaces) its lines.
 */
export function rateUsage(book: PriceBook, usage: readonly UsageRecord[], opts: { by?: RateBy } = {}): RatingResult {
  const byUser = opts.by === 'user';
  const groups = new Map<string, Group>();
  for (const u of usage) {
    const user = byUser ? (u.user_id ?? NO_USER) : undefined;
    const key = JSON.stringify([u.project_id, user ?? null, u.period_start.toISOString(), u.period_end.toISOString()]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { project_id: u.project_id, ...(user !== undefined ? { user_id: user } : {}), start: u.period_start, end: u.period_end, usage: [] }));
    g.usage.push(u);
  }
  const projects = new Map<string, ProjectRating>();
  const unrated: UnratedUsage[] = [];
  const ordered = [...groups.values()].sort(
    (a, b) => cmp(a.project_id, b.project_id) || cmp(a.user_id ?? '', b.user_id ?? '') || a.start.getTime() - b.start.getTime() || a.end.getTime() - b.end.getTime(),
  );
  for (const g of ordered) {
    const ps = g.start.toISOString();
    const pe = g.end.toISOString();
    const plan: PlanVersion | undefined = selectPlan(book, g.project_id, g.start);
    const used = new Set<UsageRecord>();
    const who = g.user_id !== undefined ? { user_id: g.user_id } : {};
    const pkey = JSON.stringify([g.project_id, g.user_id ?? null]);
    let project = projects.get(pkey);
    if (!project) projects.set(pkey, (project = { project_id: g.project_id, ...who, lines: [], total: '', currency: book.currency }));
    if (plan) {
      for (const charge of plan.charges) {
        const { qty, unit, matched } = chargeQuantity(charge, g.usage, used);
        if (!matched) continue;
        const priced = priceCharge(charge, qty);
        const amount = roundMoney(priced.amount, book.currency, book.rounding);
        project.lines.push({
          id: lineId(g.project_id, ps, pe, charge.meter, g.user_id),
          project_id: g.project_id,
          ...who,
          plan_id: plan.id,
          plan_effective_from: plan.effectiveFrom.toISOString(),
          meter: charge.meter,
          model: charge.model,
          period_start: ps,
          period_end: pe,
          quantity: plain(qty),
          ...(unit !== undefined ? { unit } : {}),
          free: plain(charge.free ?? new Dec(0)),
          billable: plain(priced.billable),
          steps: priced.steps.map((s) => ({ ...(s.tier !== undefined ? { tier: s.tier } : {}), quantity: plain(s.quantity), unit_price: plain(s.unit_price), amount: plain(s.amount) })),
          minimum_applied: priced.minimumApplied,
          amount: formatMoney(amount, book.currency),
          currency: book.currency,
        });
      }
    }
    // summed per meter so one unrated entry per project, period and meter
    const left = new Map<string, Dec>();
    for (const u of g.usage) if (!used.has(u)) left.set(u.meter, (left.get(u.meter) ?? new Dec(0)).plus(u.quantity));
    for (const [meter, q] of [...left].sort(([a], [b]) => (a < b ? -1 : 1))) {
      unrated.push({
        project_id: g.project_id, ...who, meter, period_start: ps, period_end: pe, quantity: plain(q),
        reason: plan ? `plan "${plan.id}" has no charge for meter "${meter}"` : `no plan applies to project "${g.project_id}" for a period starting ${ps}`,
      });
    }
  }
  const out: ProjectRating[] = [];
  for (const p of projects.values()) {
    if (p.lines.length === 0) continue;
    const total = p.lines.reduce((s, l) => s.plus(l.amount), new Dec(0));
    p.total = formatMoney(total, book.currency);
    out.push(p);
  }
  return { currency: book.currency, projects: out, unrated };
}
