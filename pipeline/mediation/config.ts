import { z } from 'zod';
import { GRANULARITIES, isValidTimeZone } from './periods';

/** The `mediation` section of metering.yaml. */
export const mediationConfig = z
  .strictObject({
    /** Billing period unit: hour, day or month (default day). */
    granularity: z.enum(GRANULARITIES).default('day'),
    /** IANA time zone the periods are cut in (default UTC). */
    timezone: z.string().refine(isValidTimeZone, 'unknown time zone').default('UTC'),
    /** Seconds a gauge value carries forward / a counter's previous sample stays valid (default 3600). */
    carrySeconds: z.number().nonnegative().default(3600),
    /** Target collection of mediated usage (default usage). */
    into: z.string().min(1).default('usage'),
  })
  .prefault({});
export type MediationConfig = z.output<typeof mediationConfig>;
