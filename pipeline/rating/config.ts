import { z } from 'zod';

/** The `rating` section of metering.yaml. */
export const ratingConfig = z
  .strictObject({
    /** Price plan file (YAML, see docs/rating.md). Default plans.yaml next to metering.yaml. */
    plan: z.string().min(1).default('plans.yaml'),
    /** Collection of rated line items, keyed by project|period|meter so re-rating replaces. Default rated. */
    into: z.string().min(1).default('rated'),
    /** Seconds after a billing period ends before its invoice is drafted (late samples land first). Default 172800 (2 days). */
    invoiceGraceSeconds: z.number().int().nonnegative().default(172800),
  })
  .prefault({});
export type RatingConfig = z.output<typeof ratingConfig>;
