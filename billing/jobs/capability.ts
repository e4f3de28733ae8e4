import type { Db } from 'mongodb';

/** How mediation runs on a store: in place (pipeline + $merge) or read into Node. */
export type MediationMode = 'in-place' | 'in-node';

export interface ModeDecision {
  mode: MediationMode;
  /** Why this mode: the configured choice, or what the probe found. */
  reason: string;
}

/**
 * Server error codes meaning "this server does not have the operator": 40324 unrecognized pipeline
 * stage ($setWindowFields, $set before 4.2), 168 InvalidPipelineOperator (unknown expression such as
 * $dateTrunc, $toDecimal), 15952 unknown group operator, 31325 unknown window function. Only these send
 * mediation into Node: a timeout, a network error or a failover says nothing about the server's
 * operators, so it never changes the mode (the job fails and is retried, and the probe runs again).
 */
export const MISSING_OPERATOR_CODES: ReadonlySet<number> = new Set([40324, 168, 15952, 31325]);

export type ProbeResult = { ok: true } | { ok: false; missing: true; error: string } | { ok: false; missing: false; error: string };

/**
 * Does the store run the operators the in-place mediation pipeline needs ($setWindowFields with
 * $shift, $dateTrunc, $set, $toDecimal)? Probed with a pipeline over an empty range, so it costs one
 * round trip. The CI stand-in (mongo-java-server) rejects the stage; MongoDB >= 5.0 accepts it.
 */
export async function probeInPlaceMediation(db: Db, source = 'meter'): Promise<ProbeResult> {
  try {
    await db.command({
      aggregate: source,
      pipeline: [
        { $match: { timestamp: { $lt: new Date(0) } } },
        { $setWindowFields: { partitionBy: '$resource_id', sortBy: { timestamp: 1 }, output: { _p: { $shift: { output: '$timestamp', by: -1 } } } } },
        { $set: { _d: { $dateTrunc: { date: '$timestamp', unit: 'day', timezone: 'UTC' } }, _x: { $toDecimal: '$counter_volume' } } },
        { $limit: 1 },
      ],
      cursor: {},
    });
    return { ok: true };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, missing: typeof code === 'number' && MISSING_OPERATOR_CODES.has(code), error: (err as Error).message };
  }
}

/**
 * `mediation.mode` resolved against the store, lazily and only on a definite answer: in place when
 * the probe passes, in Node only when the server answered that it lacks an operator. A transient
 * failure (timeout, no primary, network) leaves it undecided: `resolve()` throws (the job is retried)
 * and the next call probes again.
 */
export class MediationModeResolver {
  private decided?: ModeDecision;
  private lastError?: string;

  constructor(private readonly db: Db, private readonly configured: 'auto' | MediationMode, private readonly source = 'meter') {
    if (configured !== 'auto') this.decided = { mode: configured, reason: `configured (mediation.mode: ${configured})` };
  }

  /** The decision so far (undefined while undecided), for logs, the route's answer and the demo. */
  get decision(): ModeDecision | undefined {
    return this.decided;
  }

  get undecidedReason(): string | undefined {
    return this.decided ? undefined : `not probed successfully yet${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  async resolve(): Promise<ModeDecision> {
    if (this.decided) return this.decided;
    const probe = await probeInPlaceMediation(this.db, this.source);
    if (probe.ok) this.decided = { mode: 'in-place', reason: 'the store runs $setWindowFields, $dateTrunc and $toDecimal: the pipeline runs in place and $merges into usage' };
    else if (probe.missing) this.decided = { mode: 'in-node', reason: `the store lacks the pipeline operators ($setWindowFields/$dateTrunc; needs MongoDB >= 5.0): samples are streamed into Node instead (${probe.error.split('\n')[0]})` };
    else {
      this.lastError = probe.error.split('\n')[0];
      throw new Error(`cannot tell whether the store runs the mediation pipeline (probe failed: ${this.lastError}); not falling back to in-Node mediation on a transient error`);
    }
    return this.decided;
  }
}

/** Resolve `mediation.mode` once (auto probes the store); throws on a transient probe failure. */
export async function decideMediationMode(db: Db, configured: 'auto' | MediationMode, source = 'meter'): Promise<ModeDecision> {
  return new MediationModeResolver(db, configured, source).resolve();
}
