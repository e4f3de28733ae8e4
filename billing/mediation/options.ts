import { GRANULARITIES, isValidTimeZone, periodStart, type Granularity } from './periods';

/**
 * What one mediation run covers. Periods are [from, to) in `granularity` units of `timezone`;
 * `from` and `to` must be period boundaries, so a run replaces whole periods.
 */
export interface MediationOptions {
  from: Date;
  to: Date;
  granularity: Granularity;
  timezone: string;
  /**
   * How long (seconds) a sample's value carries: a gauge value holds until the next sample of the
   * same resource and meter but at most this long; a cumulative counter's increase is measured from
   * the previous sample only when that one is at most this much older. Make it larger than the
   * polling interval (Ceilometer polls every 300–600 s).
   */
  carrySeconds: number;
  /** Only these meters (counter_name); all when absent. */
  meters?: string[];
  /** Only these projects; all when absent. */
  projects?: string[];
  /** Source collection of raw samples (Ceilometer's `meter`). */
  source: string;
  /** Target collection of mediated usage, written with $merge. */
  into: string;
  /** Write the documents under this run id (runs.ts); absent: plain deterministic ids (the reference). */
  run?: string;
  /** Also compute the exact decimal quantities (`exact`) the bill is made of. */
  exact?: boolean;
}

export const DEFAULTS = { granularity: 'day' as Granularity, timezone: 'UTC', carrySeconds: 3600, source: 'meter', into: 'usage' };

/** Fill defaults and check the period range; errors name the offending option. */
export function mediationOptions(o: Partial<MediationOptions> & { from: Date; to: Date }): MediationOptions {
  const opts: MediationOptions = { ...DEFAULTS, ...o };
  if (!GRANULARITIES.includes(opts.granularity)) throw new Error(`granularity: expected one of ${GRANULARITIES.join(', ')}`);
  if (!isValidTimeZone(opts.timezone)) throw new Error(`timezone: unknown time zone "${opts.timezone}"`);
  if (!(opts.carrySeconds >= 0)) throw new Error('carrySeconds: must be a non-negative number');
  for (const k of ['from', 'to'] as const) {
    const d = opts[k];
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new Error(`${k}: not a valid date`);
    if (periodStart(d, opts.granularity, opts.timezone).getTime() !== d.getTime()) {
      throw new Error(`${k}: ${d.toISOString()} is not the start of a ${opts.granularity} in ${opts.timezone} (nearest: ${periodStart(d, opts.granularity, opts.timezone).toISOString()})`);
    }
  }
  if (opts.to <= opts.from) throw new Error('to: must be after from');
  return opts;
}

