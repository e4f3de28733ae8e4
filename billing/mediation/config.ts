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
    /**
     * How mediation jobs run: in-place (the aggregation pipeline with $merge; MongoDB >= 5.0),
     * in-node (read the samples into Node; any MongoDB, also the CI stand-in) or auto (in place when
     * the store runs $setWindowFields and $dateTrunc, probed once at start-up). Default auto.
     */
    mode: z.enum(['auto', 'in-place', 'in-node']).default('auto'),
    /**
     * Seconds between drains of the late-sample tracker into re-mediation (and re-rating) jobs;
     * 0 turns late-data handling off. Default 300.
     */
    lateDataCheckSeconds: z.number().int().nonnegative().default(300),
  })
  .prefault({});
export type MediationConfig = z.output<typeof mediationConfig>;
