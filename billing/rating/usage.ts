import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Dec, toDec } from './money';
import { addPeriods, parseDateInZone, periodStart, type Granularity } from '../mediation/periods';

/** One mediated usage record: a project's quantity of a meter over one billing period. */
export interface UsageRecord {
  project_id: string;
  user_id?: string;
  meter: string;
  period_start: Date;
  period_end: Date;
  quantity: Dec;
  unit?: string;
}

const instant = z.union([z.string(), z.date()]).transform((v, ctx) => {
  try {
    return parseDateInZone(v, 'UTC');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const quantity = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    const d = toDec(v);
    if (d.lt(0)) throw new Error('must not be negative');
    return d;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const usageRecordSchema = z
  .strictObject({
    project_id: z.string().min(1),
    user_id: z.string().min(1).optional(),
    meter: z.string().min(1),
    period_start: instant,
    period_end: instant,
    quantity,
    unit: z.string().min(1).optional(),
  })
  .refine((u) => u.period_end > u.period_start, { message: 'period_end must be after period_start', path: ['period_end'] });

export const usageFileSchema = z.array(usageRecordSchema);

export class UsageInputError extends Error {}

/** Validate parsed JSON usage; every problem is reported as `file: [index].field: message`. */
export function parseUsage(value: unknown, file = 'usage.json'): UsageRecord[] {
  const r = usageFileSchema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return `${file}: ${path || '(top level)'}: ${i.message}`;
  });
  throw new UsageInputError(lines.join('\n'));
}

export function loadUsageFile(file: string): UsageRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageInputError(`${file}: cannot read file: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageInputError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  return parseUsage(value, file);
}

/**
 * Roll usage up into coarser billing periods (daily mediation billed monthly): records are summed
 * per project, user, meter and unit within each `granularity` period of `timezone`. A record must
 * lie within one target period; one that straddles a boundary is an error naming it.
 */
export function rollUpUsage(records: readonly UsageRecord[], granularity: Granularity, timezone = 'UTC'): UsageRecord[] {
  const out = new Map<string, UsageRecord>();
  records.forEach((u, i) => {
    const start = periodStart(u.period_start, granularity, timezone);
    const end = addPeriods(start, granularity, 1, timezone);
    if (u.period_end > end) {
      throw new UsageInputError(`usage [${i}] (${u.project_id} ${u.meter} ${u.period_start.toISOString()} → ${u.period_end.toISOString()}) spans more than one ${granularity} in ${timezone}`);
    }
    const key = JSON.stringify([u.project_id, u.user_id ?? null, u.meter, u.unit ?? null, start.getTime()]);
    const cur = out.get(key);
    if (cur) cur.quantity = cur.quantity.plus(u.quantity);
    else out.set(key, { ...u, period_start: start, period_end: end, quantity: new Dec(u.quantity) });
  });
  return [...out.values()];
}
