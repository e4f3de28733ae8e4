import type { MongoBulkWriteError } from 'mongodb';

/**
 * Reading an unordered bulk write's error (insertMany / bulkWrite with `ordered: false`): which
 * documents failed and why, and whether the server also reported a write-concern error. The one
 * parser the store writer, the dead-letter sink, the resource ownership upserts and the ingest ledger
 * share. Pure: no I/O.
 */

/** MongoDB's duplicate-key error code (E11000). */
export const DUPLICATE_KEY = 11000;

/** Whether a single write (insertOne, updateOne with upsert, createIndex…) failed on a unique index. */
export function isDuplicateKeyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === DUPLICATE_KEY;
}

/** One document of the bulk write that the server refused. */
export interface BulkWriteFailure {
  /** Position of the document in the batch. */
  index: number;
  code?: number;
  errmsg?: string;
  /** For a duplicate key: the unique index's key pattern, when the server says it. */
  keyPattern?: Record<string, unknown>;
}

/** The refused documents of a bulk write error (the driver holds one or a list; none when the whole write failed). */
export function writeFailures(err: MongoBulkWriteError): BulkWriteFailure[] {
  const list = Array.isArray(err.writeErrors) ? err.writeErrors : err.writeErrors ? [err.writeErrors] : [];
  return list.map((we) => {
    const inner = (we as unknown as { err?: Record<string, unknown> }).err ?? {};
    return {
      index: we.index,
      code: we.code,
      errmsg: we.errmsg,
      keyPattern: inner.keyPattern as Record<string, unknown> | undefined,
    };
  });
}

/** Whether the server also reported a write-concern error: the documents it took may not be durable. */
export function hasWriteConcernError(err: MongoBulkWriteError): boolean {
  const r = err.result as unknown as { getWriteConcernError?: () => unknown } | undefined;
  return Boolean(r?.getWriteConcernError?.()) || Boolean((err as unknown as { writeConcernError?: unknown }).writeConcernError);
}

/**
 * Whether the error only says "already there": at least one refused document, every one a duplicate
 * key, and no write-concern error. Re-writing documents with fixed ids that already landed ends so.
 */
export function onlyDuplicateKeys(err: MongoBulkWriteError): boolean {
  const failures = writeFailures(err);
  return failures.length > 0 && failures.every((e) => e.code === DUPLICATE_KEY) && !hasWriteConcernError(err);
}
