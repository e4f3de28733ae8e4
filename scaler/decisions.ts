import type { Collection, Db } from 'mongodb';
import type { Decision } from './policy';

/** A decision as stored in `scaler_decisions` (with its inputs and what the actuator did). */
export interface DecisionRecord {
  t: Date;
  action: Decision['action'];
  reason: string;
  shard?: string;
  count?: number;
  inputs: Record<string, unknown>;
  /** Filled by the actuator: 'planned' | 'done' | 'failed' | 'skipped', with details. */
  outcome?: { status: 'planned' | 'done' | 'failed' | 'skipped'; detail?: string; at: Date; counts?: { before: number; after: number } };
  /** Who evaluated: the control loop, or `POST /v1/scaler/evaluate` over the live observations. */
  source?: 'loop' | 'api' | 'watch';
  /** Audit: who asked for an API-triggered round (token name, remote address); absent for the loop. */
  requested_by?: { token: string; remote?: string };
  /** With several controllers (cluster.enabled): the controller that decided and the fencing token of its scaler lease. */
  controller?: string;
  fence_token?: number;
  recorded_at: Date;
}

export const DECISIONS_COLLECTION = 'scaler_decisions';

/** The tiny repository behind the controller's decision history. */
export class DecisionRepository {
  private readonly coll: Collection<DecisionRecord>;

  constructor(db: Db) {
    this.coll = db.collection<DecisionRecord>(DECISIONS_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.coll.createIndex({ t: -1 });
  }

  /** Store a decision; returns its id (hex). */
  async record(d: Decision, now = new Date(), extra: Pick<DecisionRecord, 'source' | 'outcome' | 'requested_by' | 'controller' | 'fence_token'> = {}): Promise<string> {
    const doc: DecisionRecord = { t: d.t, action: d.action, reason: d.reason, inputs: d.inputs, recorded_at: now };
    if (d.shard) doc.shard = d.shard;
    if (d.count) doc.count = d.count;
    if (extra.source) doc.source = extra.source;
    if (extra.outcome) doc.outcome = extra.outcome;
    if (extra.requested_by) doc.requested_by = extra.requested_by;
    if (extra.controller) doc.controller = extra.controller;
    if (extra.fence_token !== undefined) doc.fence_token = extra.fence_token;
    const r = await this.coll.insertOne(doc);
    return r.insertedId.toHexString();
  }

  async setOutcome(id: string, outcome: NonNullable<DecisionRecord['outcome']>): Promise<void> {
    const { ObjectId } = await import('mongodb');
    await this.coll.updateOne({ _id: new ObjectId(id) } as never, { $set: { outcome } });
  }

  /** Most recent first (by decision time, then by when it was stored); `actionsOnly` hides 'none' evaluations. */
  async history(opts: { limit?: number; actionsOnly?: boolean; action?: Decision['action']; since?: Date } = {}): Promise<DecisionRecord[]> {
    const filter: Record<string, unknown> = {};
    if (opts.actionsOnly) filter.action = { $ne: 'none' };
    if (opts.action) filter.action = opts.action;
    if (opts.since) filter.t = { $gte: opts.since };
    return this.coll.find(filter, { projection: { _id: 0 } }).sort({ t: -1, recorded_at: -1 }).limit(opts.limit ?? 100).toArray() as Promise<DecisionRecord[]>;
  }
}
