import { createHash } from 'node:crypto';
import type { Db, Document, ObjectId } from 'mongodb';
import type { StoreConfig } from '../config';
import { ensureIndexes, uniqueMessageKey, type EnsureIndexesReport } from './indexes';
import { COLLECTIONS } from './layout';
import { writeConcernOf } from './writer';

/**
 * Taking over a `meter` collection written by Ceilometer's old MongoDB driver, which never
 * deduplicated (a redelivered notification was inserted again): the product's unique message-id
 * index cannot be built while two documents repeat its key. The takeover finds every repeated key,
 * keeps one document of each (the earliest `recorded_at`, i.e. the copy the old driver stored first;
 * ties by `_id`), moves every other copy to `meter_quarantine` (nothing is deleted: a quarantined
 * document holds the original whole), then builds the store's indexes.
 *
 * Crash-safe and repeatable: each copy is written to the quarantine (keyed by its own `_id`, so a
 * second write is a no-op) before it is removed from `meter`; a run stopped at any point is finished
 * by running it again, and a run over a clean collection changes nothing but missing indexes.
 */

export const QUARANTINE_COLLECTION = 'meter_quarantine';

/** One copy of a repeated key, as the scan reports it. */
export interface DuplicateCopy {
  _id: ObjectId;
  recorded_at?: Date | null;
  /** Digest of the fields a reader sees (everything except `_id` and `recorded_at`). */
  digest: string;
}

export interface DuplicateGroup {
  key: Record<string, unknown>;
  copies: DuplicateCopy[];
}

/** Which copy to keep and which to quarantine; `sameContent` is false when the copies differ beyond `recorded_at`. */
export interface KeeperChoice {
  keep: DuplicateCopy;
  quarantine: DuplicateCopy[];
  sameContent: boolean;
}

const time = (c: DuplicateCopy): number => (c.recorded_at instanceof Date ? c.recorded_at.getTime() : Number.POSITIVE_INFINITY);

/** Pure rule: the earliest `recorded_at` wins (a copy without one counts as latest); ties go to the smaller `_id`. */
export function chooseKeeper(group: DuplicateGroup): KeeperChoice {
  const ordered = [...group.copies].sort((a, b) => time(a) - time(b) || a._id.toHexString().localeCompare(b._id.toHexString()));
  const [keep, ...quarantine] = ordered;
  if (!keep) throw new Error('chooseKeeper: a duplicate group needs at least one copy');
  return { keep, quarantine, sameContent: quarantine.every((c) => c.digest === keep.digest) };
}

export interface TakeoverOptions {
  /** Report what would happen; write nothing (no quarantine, no deletes, no indexes). */
  dryRun?: boolean;
  /** Called after each duplicate group with the running totals (for a progress display). */
  onProgress?: (progress: TakeoverProgress) => void;
}

export interface TakeoverProgress {
  /** Documents in `meter` when the run started (estimate). */
  documents: number;
  groupsDone: number;
  quarantined: number;
}

export interface TakeoverReport {
  dry_run: boolean;
  database: string;
  /** The fields whose repetition the unique index refuses (from the store's configuration). */
  unique_key: string[];
  documents: number;
  duplicate_groups: number;
  /** Copies moved (or, in a dry run, to be moved) to `meter_quarantine`. */
  quarantined: number;
  /** Groups whose copies differ in more than `recorded_at` (reported; still one kept, the rest quarantined). */
  conflicting_groups: number;
  /** A few examples, for the operator to look at. */
  examples: Array<{ key: Record<string, unknown>; kept: string; quarantined: string[]; same_content: boolean }>;
  indexes?: EnsureIndexesReport;
}

const EXAMPLES = 5;

/**
 * Server-side scan for repeated keys: `$group` by the unique key over the whole collection with
 * `allowDiskUse` (the server spills to disk, the client only receives the repeated keys), each copy
 * with a digest of its content so differing copies can be told apart. Read-only.
 */
function duplicateScan(keyFields: string[]): Document[] {
  const groupId = Object.fromEntries(keyFields.map((f) => [f.replace(/\./g, '/'), `$${f}`]));
  return [
    {
      $group: {
        _id: groupId,
        n: { $sum: 1 },
        copies: {
          $push: {
            _id: '$_id',
            recorded_at: '$recorded_at',
            // what a reader sees: the sample's own fields (recorded_at differs between copies by nature)
            content: {
              source: '$source',
              counter_name: '$counter_name',
              counter_type: '$counter_type',
              counter_unit: '$counter_unit',
              counter_volume: '$counter_volume',
              user_id: '$user_id',
              project_id: '$project_id',
              resource_id: '$resource_id',
              timestamp: '$timestamp',
              resource_metadata: '$resource_metadata',
              message_signature: '$message_signature',
            },
          },
        },
      },
    },
    { $match: { n: { $gt: 1 } } },
  ];
}

function digestOf(content: unknown): string {
  // key order as stored (the old driver wrote every copy of a sample the same way)
  const text = JSON.stringify(content, (_k, v: unknown) => (v instanceof Date ? { $date: v.toISOString() } : v));
  return createHash('sha256').update(text).digest('hex');
}

/** Find repeated message ids in `meter`, quarantine all but one of each, then build the indexes. */
export async function takeOverLegacyStore(db: Db, store: StoreConfig, options: TakeoverOptions = {}): Promise<TakeoverReport> {
  const keyFields = Object.keys(uniqueMessageKey(store));
  const meter = db.collection(COLLECTIONS.meter);
  const documents = await meter.estimatedDocumentCount();

  const report: TakeoverReport = {
    dry_run: Boolean(options.dryRun),
    database: db.databaseName,
    unique_key: keyFields,
    documents,
    duplicate_groups: 0,
    quarantined: 0,
    conflicting_groups: 0,
    examples: [],
  };

  // The $group stage completes on the server before the first group reaches us, so removing copies
  // from `meter` while reading the cursor cannot change what it returns. Groups are handled as they
  // arrive: memory stays bounded by the driver's batch, whatever the number of repeated keys.
  const cursor = meter.aggregate(duplicateScan(keyFields), { allowDiskUse: true });
  for await (const row of cursor) {
    const group: DuplicateGroup = {
      key: Object.fromEntries(keyFields.map((f) => [f, (row._id as Record<string, unknown>)[f.replace(/\./g, '/')]])),
      copies: (row.copies as Array<{ _id: ObjectId; recorded_at?: Date | null; content: unknown }>).map((c) => ({
        _id: c._id,
        recorded_at: c.recorded_at ?? null,
        digest: digestOf(c.content),
      })),
    };
    const choice = chooseKeeper(group);
    report.duplicate_groups += 1;
    if (!choice.sameContent) report.conflicting_groups += 1;
    if (report.examples.length < EXAMPLES) {
      report.examples.push({ key: group.key, kept: choice.keep._id.toHexString(), quarantined: choice.quarantine.map((c) => c._id.toHexString()), same_content: choice.sameContent });
    }
    report.quarantined += options.dryRun ? choice.quarantine.length : await quarantineCopies(db, store, group, choice);
    options.onProgress?.({ documents, groupsDone: report.duplicate_groups, quarantined: report.quarantined });
  }

  if (!options.dryRun) report.indexes = await ensureIndexes(db, store);
  return report;
}

/**
 * Move the copies `choice` does not keep from `meter` to `meter_quarantine`: written to the
 * quarantine first (idempotent by `_id`), then removed from `meter`, so a crash in between leaves a
 * copy in both places, never in neither. Returns how many copies were moved.
 */
async function quarantineCopies(db: Db, store: StoreConfig, group: DuplicateGroup, choice: KeeperChoice): Promise<number> {
  const writeConcern = writeConcernOf(store);
  const meter = db.collection(COLLECTIONS.meter);
  const ids = choice.quarantine.map((c) => c._id);
  const originals = await meter.find({ _id: { $in: ids } }).toArray();
  if (originals.length === 0) return 0;
  const at = new Date();
  const reason = choice.sameContent
    ? 'duplicate message id (same content as the kept copy)'
    : 'duplicate message id with different content (the earliest recorded copy was kept)';
  await db.collection(QUARANTINE_COLLECTION).bulkWrite(
    originals.map((doc) => ({
      updateOne: {
        filter: { _id: doc._id },
        update: { $setOnInsert: { original: doc, kept_id: choice.keep._id, key: group.key, reason, quarantined_at: at } },
        upsert: true,
      },
    })),
    { ordered: false, writeConcern },
  );
  await meter.deleteMany({ _id: { $in: originals.map((d) => d._id) } }, { writeConcern });
  return originals.length;
}
