import type { Db } from 'mongodb';

/** How mediation runs on a store: in place (pipeline + $merge) or read into Node. */
export type MediationMode = 'in-place' | 'in-node';

export interface ModeDecision {
  mode: MediationMode;
  /** Why this mode: the configured choice, or what the probe found. */
  reason: string;
}

/**
 * Does the store run the operators the in-place mediation pipeline needs ($setWindowFields with
 * $shift, $dateTrunc, $set)? Probed with a one-document pipeline over an empty range, so it costs
 * one round trip. The CI stand-in (mongo-java-server) rejects the stage; MongoDB >= 5.0 accepts it.
 */
export async function probeInPlaceMediation(db: Db, source = 'meter'): Promise<{ ok: boolean; error?: string }> {
  try {
    await db.command({
      aggregate: source,
      pipeline: [
        { $match: { timestamp: { $lt: new Date(0) } } },
        { $setWindowFields: { partitionBy: '$resource_id', sortBy: { timestamp: 1 }, output: { _p: { $shift: { output: '$timestamp', by: -1 } } } } },
        { $set: { _d: { $dateTrunc: { date: '$timestamp', unit: 'day', timezone: 'UTC' } } } },
        { $limit: 1 },
      ],
      cursor: {},
    });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Resolve `mediation.mode` (auto probes the store). */
export async function decideMediationMode(db: Db, configured: 'auto' | MediationMode, source = 'meter'): Promise<ModeDecision> {
  if (configured !== 'auto') return { mode: configured, reason: `configured (mediation.mode: ${configured})` };
  const probe = await probeInPlaceMediation(db, source);
  return probe.ok
    ? { mode: 'in-place', reason: 'the store runs $setWindowFields and $dateTrunc: the pipeline runs in place and $merges into usage' }
    : { mode: 'in-node', reason: `the store lacks the pipeline operators ($setWindowFields/$dateTrunc; needs MongoDB >= 5.0): samples are read into Node instead (${probe.error?.split('\n')[0]})` };
}
