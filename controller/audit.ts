import { randomUUID } from 'node:crypto';
import { ObjectId, type Collection, type Db, type WriteConcernSettings } from 'mongodb';

/**
 * The audit log of admin actions: who (token name or certificate subject's principal), what (method,
 * route, parameters), when, and the outcome. Append-only: every request is two inserts, one before
 * the action runs (`phase: request`) and one with its outcome (`phase: outcome`); nothing in the
 * product updates or deletes an audit document. Readers merge the two phases by `request_id`.
 */

export const AUDIT_COLLECTION = 'audit';

export type AuditOutcome = 'ok' | 'refused' | 'failed' | 'unknown';

export interface AuditEvent {
  /** Who: principal name, or null when no credential matched. */
  who: string | null;
  /** How they proved it: token, certificate, or null when refused before that. */
  via: 'token' | 'certificate' | null;
  /** `METHOD /route/:param` as declared, e.g. `POST /v1/invoices/:id/issue`, or an internal action such as `reload`. */
  action: string;
  /** Route parameters and query (never headers or bodies, which may carry secrets). */
  target: Record<string, unknown>;
  remote?: string;
}

interface AuditDoc extends Partial<AuditEvent> {
  _id: string;
  request_id: string;
  /** Which controller handled it (cluster.id, else `<hostname>-<pid>`): several share one audit log. */
  controller?: string;
  phase: 'request' | 'outcome';
  at: Date;
  /** Orders records written in the same millisecond (its counter increases within a process). */
  seq?: ObjectId;
  status?: number;
  outcome?: AuditOutcome;
  reason?: string;
  duration_ms?: number;
}

/** One audited action as `GET /v1/audit` shows it. */
export interface AuditEntry extends AuditEvent {
  request_id: string;
  controller?: string;
  at: string;
  outcome: AuditOutcome;
  status?: number;
  reason?: string;
  duration_ms?: number;
}

export function outcomeOf(status: number): AuditOutcome {
  if (status === 401 || status === 403) return 'refused';
  return status < 400 ? 'ok' : 'failed';
}

export class AuditLog {
  readonly collection: Collection<AuditDoc>;

  /**
   * `writeConcern`: the store's (store.writeConcern): an audit record is durable before the action runs.
   * `controller`: this controller's id, written into every record (the controllers of a cluster share the log).
   */
  constructor(db: Db, private readonly writeConcern: WriteConcernSettings, collection = AUDIT_COLLECTION, private readonly controller?: string) {
    this.collection = db.collection<AuditDoc>(collection);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ at: -1, seq: -1 }, { name: 'audit_order' });
    await this.collection.createIndex({ request_id: 1 }, { name: 'audit_request' });
  }

  /** Record that an action is about to run; resolves with its request id once the record is durable. */
  async begin(event: AuditEvent, requestId = randomUUID()): Promise<string> {
    await this.collection.insertOne({ _id: `${requestId}:request`, request_id: requestId, phase: 'request', at: new Date(), seq: new ObjectId(), ...this.origin(), ...event }, { writeConcern: this.writeConcern });
    return requestId;
  }

  /** Record the outcome of an action begun with `begin` (or of one refused before it could begin). */
  async end(requestId: string, result: { status: number; reason?: string; durationMs?: number }, event?: AuditEvent): Promise<void> {
    await this.collection.insertOne(
      {
        _id: `${requestId}:outcome`,
        request_id: requestId,
        phase: 'outcome',
        at: new Date(),
        seq: new ObjectId(),
        ...this.origin(),
        status: result.status,
        outcome: outcomeOf(result.status),
        ...(result.reason ? { reason: result.reason } : {}),
        ...(result.durationMs !== undefined ? { duration_ms: Math.round(result.durationMs) } : {}),
        ...(event ?? {}),
      },
      { writeConcern: this.writeConcern },
    );
  }

  private origin(): { controller?: string } {
    return this.controller ? { controller: this.controller } : {};
  }

  /** Newest first, one entry per action (its request and outcome merged). */
  async list(filter: { since?: Date; until?: Date; who?: string; action?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const q: Record<string, unknown> = {};
    if (filter.since || filter.until) q.at = { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lt: filter.until } : {}) };
    if (filter.who) q.who = filter.who;
    if (filter.action) q.action = filter.action;
    // the phase that names who/action is 'request' (or the outcome of a refusal, which has no request phase)
    const heads = await this.collection.find({ ...q }).sort({ at: -1, seq: -1 }).limit(limit * 2).toArray();
    const ids = [...new Set(heads.map((d) => d.request_id))].slice(0, limit);
    const all = await this.collection.find({ request_id: { $in: ids } }).toArray();
    const byId = new Map<string, { request?: AuditDoc; outcome?: AuditDoc }>();
    for (const d of all) {
      const e = byId.get(d.request_id) ?? {};
      e[d.phase] = d;
      byId.set(d.request_id, e);
    }
    return ids.flatMap((id) => {
      const e = byId.get(id);
      const head = e?.request ?? e?.outcome;
      if (!head) return [];
      return [
        {
          request_id: id,
          at: (e!.request ?? head).at.toISOString(),
          who: head.who ?? null,
          via: head.via ?? null,
          action: head.action ?? '',
          ...(head.controller ? { controller: head.controller } : {}),
          target: head.target ?? {},
          ...(head.remote ? { remote: head.remote } : {}),
          // an action with a request phase and no outcome was cut short (crash, lost connection)
          outcome: e!.outcome?.outcome ?? 'unknown',
          ...(e!.outcome?.status !== undefined ? { status: e!.outcome.status } : {}),
          ...(e!.outcome?.reason ? { reason: e!.outcome.reason } : {}),
          ...(e!.outcome?.duration_ms !== undefined ? { duration_ms: e!.outcome.duration_ms } : {}),
        },
      ];
    });
  }
}
