import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { isDuplicateKeyError, onlyDuplicateKeys, writeFailures } from '../pipeline/store/bulk-errors';
import { replaceableFilter, vmDocId } from './partition-state';
import type { VmState } from './profiler';
import { vmSnapshotOf, vmSnapshotSchema, type VmSnapshot } from './snapshot';

/**
 * The profiler's partitioned state in MongoDB (thin I/O; the rules are in partition-state.ts).
 *
 * Two kinds of documents in one collection:
 *  - a VM part: `_id: "<partition key>|<vm>"`, `part`, `vm`, `offset` (the Kafka offset the state
 *    covers), `owner` (controller id), `written_at`, `expires_at` (last sample + idle TTL: a TTL index
 *    removes forgotten VMs, and reads skip expired ones meanwhile) and `state` (the snapshot of the VM);
 *  - a partition marker: `_id: "<partition key>"`, `kind: "partition"`, `offset`, `owner`,
 *    `released` (the owner handed the partition over: its last state is written), `at`.
 *
 * Every write is conditional on the stored offset being lower (the marker: not higher), as an upsert:
 * when a newer state is stored the filter matches nothing, the upsert's insert hits the `_id` and
 * MongoDB refuses it with a duplicate-key error, so a stale writer can never replace newer state.
 */

export interface VmPartDoc {
  _id: string;
  part: string;
  vm: string;
  offset: number;
  owner: string;
  written_at: Date;
  expires_at: Date;
  state: VmSnapshot;
}

export interface PartitionMarker {
  _id: string;
  kind: 'partition';
  offset: number;
  owner: string;
  released: boolean;
  at: Date;
}

export interface WriteOutcome {
  /** VM parts written (or deleted). */
  written: number;
  /** VM parts refused because the store holds a newer state (written by a newer owner). */
  stale: number;
}

type Doc = VmPartDoc | PartitionMarker;

export class ProfilerStateStore {
  private readonly coll: Collection<Doc>;

  constructor(
    db: Db,
    collection: string,
    private readonly controllerId: string,
    private readonly idleTtlMs: number,
  ) {
    this.coll = db.collection<Doc>(collection);
  }

  /** TTL on `expires_at` (forgotten VMs), and the partition lookup. */
  async ensureIndexes(): Promise<void> {
    await this.coll.createIndex({ expires_at: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });
    await this.coll.createIndex({ part: 1 }, { name: 'part' });
  }

  /**
   * Write the changed VMs of partition `key` at version `offset`, then its marker (`released` when
   * handing over). A VM without state (forgotten by the profiler) is deleted under the same rule.
   */
  async write(key: string, offset: number, vms: ReadonlyArray<{ id: string; state: VmState | undefined }>, released = false): Promise<WriteOutcome> {
    const now = new Date();
    const ops: AnyBulkWriteOperation<Doc>[] = vms.map(({ id, state }) => {
      const filter = replaceableFilter(vmDocId(key, id), offset);
      // a forgotten VM is expired at once rather than deleted, so incremental readers see it go
      if (!state) return { updateOne: { filter, update: { $set: { offset, owner: this.controllerId, expires_at: now }, $currentDate: { written_at: true } } } };
      const lastSeen = Number.isFinite(state.lastSeen) ? state.lastSeen : now.getTime();
      const doc: Omit<VmPartDoc, '_id' | 'written_at'> = {
        part: key,
        vm: id,
        offset,
        owner: this.controllerId,
        expires_at: new Date(Number.isFinite(this.idleTtlMs) ? lastSeen + this.idleTtlMs : 8.64e15),
        state: vmSnapshotOf(state),
      };
      // written_at is the server's clock: readers ask for what changed since, whatever the controllers' clocks say
      return { updateOne: { filter, update: { $set: doc, $currentDate: { written_at: true } }, upsert: true } };
    });
    let stale = 0;
    if (ops.length > 0) {
      try {
        await this.coll.bulkWrite(ops, { ordered: false });
      } catch (err) {
        if (!(err instanceof MongoBulkWriteError)) throw err;
        // refused as duplicates (a newer state is stored); anything else, or a write-concern error, is a failure
        if (!onlyDuplicateKeys(err)) throw err;
        stale = writeFailures(err).length;
      }
    }
    const marker = await this.writeMarker(key, offset, released, now);
    return { written: ops.length - stale, stale: stale + (marker ? 0 : 1) };
  }

  /** The marker at `offset` unless a newer one is stored; false when refused as stale. */
  private async writeMarker(key: string, offset: number, released: boolean, at: Date): Promise<boolean> {
    try {
      await this.coll.updateOne(
        { _id: key, offset: { $lte: offset } },
        { $set: { kind: 'partition', offset, owner: this.controllerId, released, at } },
        { upsert: true },
      );
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async marker(key: string): Promise<PartitionMarker | undefined> {
    const doc = await this.coll.findOne({ _id: key });
    return doc && (doc as PartitionMarker).kind === 'partition' ? (doc as PartitionMarker) : undefined;
  }

  /** Claim partition `key` (marker owner = this controller, not released) at the offset its state covers. */
  async claim(key: string, offset: number): Promise<void> {
    await this.writeMarker(key, offset, false, new Date());
  }

  /** The stored VM parts of partition `key` (expired ones left out) and the offset the state covers. */
  async load(key: string, now = new Date()): Promise<{ offset: number; vms: VmSnapshot[]; unreadable: string[] }> {
    const [marker, docs] = await Promise.all([this.marker(key), this.coll.find({ part: key, expires_at: { $gt: now } }).toArray()]);
    let offset = marker?.offset ?? -1;
    const vms: VmSnapshot[] = [];
    const unreadable: string[] = [];
    for (const d of docs as VmPartDoc[]) {
      if (d.offset > offset) offset = d.offset;
      try {
        vms.push(parseVm(d));
      } catch {
        unreadable.push(d._id);
      }
    }
    return { offset, vms, unreadable };
  }

  /**
   * The VM parts written at or after `since` (server time; every live part when undefined), for the
   * cluster-wide view. Expired parts come too (with `state` undefined when forgotten) so a reader
   * drops them. A document that is not a VM snapshot is left out and named in `unreadable` (one bad
   * document must not break every query). `newest` = the latest `written_at` read.
   */
  async readChanged(since: Date | undefined, now = new Date()): Promise<{ parts: ChangedPart[]; unreadable: string[]; newest: Date | undefined }> {
    const filter = since ? { written_at: { $gte: since }, vm: { $exists: true } } : { expires_at: { $gt: now } };
    const docs = (await this.coll.find(filter as never).toArray()) as VmPartDoc[];
    const parts: ChangedPart[] = [];
    const unreadable: string[] = [];
    let newest: Date | undefined;
    for (const d of docs) {
      if (d.written_at && (!newest || d.written_at > newest)) newest = d.written_at;
      if (d.expires_at <= now) {
        parts.push({ id: d._id, expiresAt: d.expires_at, state: undefined });
        continue;
      }
      try {
        parts.push({ id: d._id, expiresAt: d.expires_at, state: parseVm(d) });
      } catch {
        unreadable.push(d._id);
      }
    }
    return { parts, unreadable, newest };
  }
}

export interface ChangedPart {
  id: string;
  expiresAt: Date;
  /** undefined: expired or forgotten. */
  state: VmSnapshot | undefined;
}

function parseVm(d: VmPartDoc): VmSnapshot {
  const r = vmSnapshotSchema.safeParse(d.state);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`profiler state ${d._id}: not a VM snapshot: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}
