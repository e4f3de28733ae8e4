import { MongoServerError, type Db, type Filter } from 'mongodb';
import { FENCED_DOCUMENTS, type FencedDocuments } from './fenced-documents';
import { isDuplicateKeyError } from '../pipeline/store/bulk-errors';
import { withinMs } from '../lib/deadline';

export const FENCES_COLLECTION = 'cluster_fences';

/** A singleton's action was refused: a newer leader (higher fencing token) has acted, or this controller's lease lapsed. */
export class FencedOutError extends Error {
  constructor(
    readonly role: string,
    readonly token: number | undefined,
    why: string,
  ) {
    super(`${role}: ${why}`);
  }
}

/** The token a fenced action carries: which role, which lease. */
export interface FenceToken {
  role: string;
  token: number;
}

/**
 * The condition that makes a write to a document one of the fenced effects: it applies only when the
 * document carries this token or a lower one (or none), and records the token. A write carrying a lower
 * token than the document holds matches nothing. The documents of FENCED_DOCUMENTS carry the role's
 * fence, raised by every advance, so such a write is refused once a newer leader's advance has completed
 * (not only once the newer leader has written that document). Pure.
 */
export function fencedWrite(filter: Record<string, unknown>, fence: FenceToken): { filter: Record<string, unknown>; set: Record<string, number> } {
  const field = `fence.${fence.role}`;
  return { filter: { ...filter, $or: [{ [field]: { $exists: false } }, { [field]: { $lte: fence.token } }] }, set: { [field]: fence.token } };
}

/**
 * The fences in MongoDB (`cluster_fences`, one document per role): the highest token that has acted.
 * `advance` is the check at the point of action: it records the token when it is at least the stored
 * one and refuses it (FencedOutError) when a newer leader has already acted; a new leader advances the
 * fence as soon as it takes the lease, so a paused old leader that wakes up is refused before its first
 * action, whatever its own clock says.
 */
export class FenceStore {
  /** Refused actions (stale tokens), for /metrics. */
  rejected = 0;

  constructor(
    private readonly db: Db,
    private readonly fenced: Readonly<Record<string, readonly FencedDocuments[]>> = FENCED_DOCUMENTS,
  ) {}

  /**
   * With `timeoutMs` the write is bounded (the server's maxTimeMS and a local timer, for a store that
   * does not answer at all): past it the action is refused (FencedOutError), since the caller could no
   * longer act within its lease. The write may still land later; it only ever records this token.
   */
  async advance(fence: FenceToken, controller: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const coll = this.db.collection<{ _id: string; token: number; controller: string; at?: Date }>(FENCES_COLLECTION);
    const limit = opts.timeoutMs === undefined ? undefined : Math.max(1, Math.floor(opts.timeoutMs));
    const bound = limit !== undefined ? { maxTimeMS: limit } : {};
    try {
      const write = (async () => {
        await coll.updateOne({ _id: fence.role, token: { $lte: fence.token } }, { $set: { token: fence.token, controller }, $currentDate: { at: true } }, { upsert: true, ...bound });
        await this.raise(fence, bound);
      })();
      if (limit === undefined) await write;
      else await withinMs(write, limit, () => new FencedOutError(fence.role, fence.token, `the fence write did not answer within ${limit} ms, the time the lease had left for it; action refused`));
    } catch (err) {
      if (err instanceof FencedOutError) throw err;
      if (err instanceof MongoServerError && err.code === 50) throw new FencedOutError(fence.role, fence.token, `the fence write exceeded its time limit (${limit} ms, the time the lease had left for it); action refused`);
      if (!isDuplicateKeyError(err)) throw err;
      this.rejected++;
      const current = await coll.findOne({ _id: fence.role });
      throw new FencedOutError(fence.role, fence.token, `fencing token ${fence.token} is stale: ${current?.controller ?? 'another controller'} has acted with token ${current?.token ?? '?'}; this controller no longer leads`);
    }
  }

  /**
   * The role's fenced documents carry at least this token from now on ($max: never lowered), so a
   * fencedWrite with a lower one is refused. Runs after the fence document accepted the token.
   */
  private async raise(fence: FenceToken, bound: { maxTimeMS?: number }): Promise<void> {
    const field = `fence.${fence.role}`;
    const below = { $or: [{ [field]: { $exists: false } }, { [field]: { $lt: fence.token } }] };
    for (const docs of this.fenced[fence.role] ?? []) {
      const coll = this.db.collection<{ _id: string }>(docs.collection);
      for (const id of docs.ids ?? []) {
        try {
          await coll.updateOne({ _id: id, ...below } as Filter<{ _id: string }>, { $max: { [field]: fence.token } }, { upsert: true, ...bound });
        } catch (err) {
          // the document carries a higher token already (the upsert collided with it): a newer leader advanced
          if (!isDuplicateKeyError(err)) throw err;
        }
      }
      if (docs.filter) await coll.updateMany({ ...docs.filter, ...below } as Filter<{ _id: string }>, { $max: { [field]: fence.token } }, bound);
    }
  }

  async current(): Promise<Array<{ _id: string; token: number; controller: string; at?: Date }>> {
    return this.db.collection<{ _id: string; token: number; controller: string; at?: Date }>(FENCES_COLLECTION).find({}).sort({ _id: 1 }).toArray();
  }
}
