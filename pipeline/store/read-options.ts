import { z } from 'zod';
import { ReadPreference, type Db, type ReadConcernLike } from 'mongodb';

/**
 * Read options of the store's reads, in one place.
 *
 * - Reads that bill (rating's usage read, the invoice's rated lines) use read concern `majority`: they
 *   only see data that survives a primary failover, so an invoice is never drafted from a write that
 *   is later rolled back. They stay on the primary.
 * - Reads that tolerate slightly stale data (usage reports, estimator lookups: stored predictions and
 *   estimate-vs-actual; mediation only when `store.reads.mediation`) go to a secondary when one is
 *   fresh enough (`secondaryPreferred` with `maxStalenessSeconds`): that is what makes an added
 *   replica relieve read load. Profiles are served from the profiler's memory and read nothing.
 */

/** Read concern of every read that billing relies on. */
export const BILLING_READ: { readConcern: ReadConcernLike } = Object.freeze({ readConcern: { level: 'majority' } as const });

export const READ_PREFERENCE_MODES = ['primary', 'primaryPreferred', 'secondaryPreferred', 'secondary', 'nearest'] as const;

/** `store.reads`: where reads that tolerate staleness go. */
export const readRoutingConfig = z
  .strictObject({
    /**
     * Read preference of reads that tolerate slightly stale data (usage reports, estimator lookups).
     * Default `secondaryPreferred`: a secondary when one is within maxStalenessSeconds, else the
     * primary. `primary` keeps every read on the primary (then an added replica relieves no reads).
     */
    tolerant: z.enum(READ_PREFERENCE_MODES).default('secondaryPreferred'),
    /**
     * Most replication lag (seconds) a secondary may have to serve those reads. Default 90, the
     * smallest MongoDB accepts (heartbeat 10 s + idle write period 10 s, and at least 90).
     */
    maxStalenessSeconds: z.number().int().min(90).default(90),
    /** Whether mediation's reads of raw samples use the same routing (default false: on the primary). */
    mediation: z.boolean().default(false),
  })
  .prefault({});
export type ReadRoutingConfig = z.output<typeof readRoutingConfig>;

/** Reads that tolerate staleness, by site. */
export type TolerantReadSite = 'reports' | 'estimator' | 'mediation';

const SITE_NAMES: Record<TolerantReadSite, string> = {
  reports: 'usage reports (GET /v1/reports/usage, report jobs)',
  estimator: 'estimator lookups (GET /v1/predictions, /v1/predictions/:id/compare)',
  mediation: "mediation's read of raw samples",
};

/** The read preference of a site (primary when the site is not routed, e.g. mediation by default). */
export function readPreferenceFor(cfg: ReadRoutingConfig, site: TolerantReadSite): ReadPreference {
  if (site === 'mediation' && !cfg.mediation) return ReadPreference.primary;
  if (cfg.tolerant === 'primary') return ReadPreference.primary;
  return new ReadPreference(cfg.tolerant, undefined, { maxStalenessSeconds: cfg.maxStalenessSeconds });
}

/** A handle on the same database whose reads use the site's read preference (writes are unaffected). */
export function tolerantDb(db: Db, cfg: ReadRoutingConfig, site: TolerantReadSite): Db {
  return db.client.db(db.databaseName, { readPreference: readPreferenceFor(cfg, site) });
}

/** Which reads an added secondary takes over, as a sentence for the scaler's decision. */
export function readsThatMove(cfg: ReadRoutingConfig): { moves: string[]; stays: string[]; summary: string } {
  const sites: TolerantReadSite[] = ['reports', 'estimator', 'mediation'];
  const moves = sites.filter((s) => readPreferenceFor(cfg, s).mode !== 'primary').map((s) => SITE_NAMES[s]);
  const stays = [...sites.filter((s) => readPreferenceFor(cfg, s).mode === 'primary').map((s) => SITE_NAMES[s]), 'billing reads (read concern majority, primary)', 'ingestion writes'];
  const summary = moves.length
    ? `reads that move to the new secondaries (${cfg.tolerant}, maxStalenessSeconds ${cfg.maxStalenessSeconds}): ${moves.join('; ')}; stay on the primary: ${stays.join('; ')}`
    : `no read moves (store.reads.tolerant is primary): an added secondary only adds redundancy, it relieves no read load`;
  return { moves, stays, summary };
}
