import { z } from 'zod';
import { existsSync } from 'node:fs';
import { CronExpressionParser } from 'cron-parser';
import { GRANULARITIES } from '../mediation/periods';

/** Why `pattern` is not a cron expression BullMQ's scheduler accepts (the same parser), or undefined. */
export function cronProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return undefined;
  try {
    CronExpressionParser.parse(pattern);
    return undefined;
  } catch (err) {
    return `not a valid cron expression ("minute hour day-of-month month day-of-week", e.g. "0 3 * * *"): ${(err as Error).message}`;
  }
}

/** The `rating` section of metering.yaml. */
export const ratingConfig = z
  .strictObject({
    /** Price plan file (YAML, see docs/rating.md). Default plans.yaml next to metering.yaml. */
    plan: z.string().min(1).default('plans.yaml'),
    /** Collection of rated line items, keyed by project|period|meter so re-rating replaces. Default rated. */
    into: z.string().min(1).default('rated'),
    /** Seconds after a billing period ends before its invoice is drafted (late samples land first). Default 172800 (2 days). */
    invoiceGraceSeconds: z.number().int().nonnegative().default(172800),
    /** Billing period the mediated usage is rolled up to before pricing and invoicing: hour, day or month. Default month. */
    billingPeriod: z.enum(GRANULARITIES).default('month'),
    /**
     * When the billing cycle runs (mediate, rate and draft the invoices of every due billing period):
     * a cron pattern in mediation.timezone, e.g. "0 3 * * *" (03:00 daily). Empty = no schedule
     * (jobs only on request). Default empty.
     */
    invoiceSchedule: z
      .string()
      .superRefine((v, ctx) => {
        const problem = cronProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default(''),
    /** Issue the invoices the scheduled cycle drafts (true), or leave them drafts for review and POST /v1/invoices/:id/issue (false). Default false. */
    issueScheduledInvoices: z.boolean().default(false),
    /** Prefix of invoice numbers (PREFIX-000001). Default INV. */
    invoicePrefix: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('INV'),
    /** Directory report jobs write their files to (named after the job). Default out/reports. */
    reportDir: z.string().min(1).default('out/reports'),
  })
  .superRefine((r, ctx) => {
    // the scheduled billing cycle rates with the plan: a schedule without its plan would fail every run
    if (r.invoiceSchedule.trim() !== '' && !cronProblem(r.invoiceSchedule) && !existsSync(r.plan)) {
      ctx.addIssue({ code: 'custom', path: ['plan'], message: `file not found: ${r.plan} (relative paths are resolved from ${process.cwd()}); rating.invoiceSchedule runs the billing cycle with this plan` });
    }
  })
  .prefault({});
export type RatingConfig = z.output<typeof ratingConfig>;
