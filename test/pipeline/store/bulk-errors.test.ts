import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoBulkWriteError, type Db, type MongoClient } from 'mongodb';
import { DUPLICATE_KEY, onlyDuplicateKeys, writeFailures } from '../../../pipeline/store/bulk-errors';
import { MongoDeadLetterSink, deadLetterDocument } from '../../../pipeline/ingest/dead-letter';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { isolation } from '../../support/isolation';
import { connect, dropDb } from '../ingest/helpers';

/**
 * The one bulk-write error parser (store writer, dead-letter sink, ownership upserts, ingest ledger),
 * read from errors the real MongoDB answers to unordered inserts.
 */
const iso = isolation(import.meta.url);
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await dropDb(db);
  await client.close();
});

async function bulkError(run: () => Promise<unknown>): Promise<MongoBulkWriteError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof MongoBulkWriteError) return err;
    throw err;
  }
  throw new Error('expected the bulk write to fail');
}

describe('bulk-write errors', () => {
  it('names each refused document by its position, with the duplicate-key code; the others are stored', async () => {
    const c = db.collection<{ _id: string; n: number }>('dup');
    await c.insertOne({ _id: 'b', n: 0 });
    const err = await bulkError(() => c.insertMany([{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }, { _id: 'c', n: 3 }, { _id: 'b', n: 4 }], { ordered: false }));
    const failures = writeFailures(err);
    expect(failures.map((f) => [f.index, f.code])).toEqual([[1, DUPLICATE_KEY], [3, DUPLICATE_KEY]]);
    expect(onlyDuplicateKeys(err)).toBe(true);
    expect((await c.find().sort({ _id: 1 }).toArray()).map((d) => [d._id, d.n])).toEqual([['a', 1], ['b', 0], ['c', 3]]);
  });

  it('a duplicate next to another refusal is not "only duplicates" (the caller must not swallow it)', async () => {
    const c = db.collection<{ _id: unknown; n?: number }>('mixed');
    await c.insertOne({ _id: 'x' });
    // an array is not a valid _id: refused with a code other than 11000
    const err = await bulkError(() => c.insertMany([{ _id: 'x' }, { _id: [1, 2] as unknown }], { ordered: false }));
    const codes = writeFailures(err).map((f) => f.code);
    expect(codes).toContain(DUPLICATE_KEY);
    if (codes.every((c) => c === DUPLICATE_KEY)) {
      console.log('skipped on the MongoDB stand-in: it stores an array _id instead of refusing it; the mixed case is checked on real MongoDB');
      return;
    }
    expect(onlyDuplicateKeys(err)).toBe(false);
  });

  it('the dead-letter sink writes the same letters again without an error and without a second copy', async () => {
    const sink = new MongoDeadLetterSink(db, { w: 1 });
    // a Kafka reject's id is its position: a redelivered message yields the same dead letter
    const reject = { index: 0, reason: 'counter_volume: expected a number, got "x"', payload: '{"counter_volume":"x"}', kafka: { topic: 'metering', partition: 0, offset: '7' } };
    const letters = [deadLetterDocument(reject), deadLetterDocument({ ...reject, index: 1 })];
    await sink.write(letters);
    await sink.write(letters);
    expect(await db.collection(COLLECTIONS.deadLetter).countDocuments()).toBe(2);
    // one of them already there, the other new: the new one is stored, the old one is not doubled
    await db.collection(COLLECTIONS.deadLetter).deleteOne({ _id: letters[1]!._id as never });
    await sink.write(letters);
    expect((await db.collection(COLLECTIONS.deadLetter).find().sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(letters.map((l) => l._id).sort());
  });
});
