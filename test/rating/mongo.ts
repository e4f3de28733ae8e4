import { MongoClient, type Db } from 'mongodb';
import { afterAll } from 'vitest';
import type { Isolation } from '../support/isolation';
import { mongoUri } from '../support/services';

/**
 * This test file's own database on the run's MongoDB, dropped (and the client closed) after the
 * file's tests. The driver connects on the first operation, so the Db is usable at once; call it
 * before the file's other afterAll hooks so they still see the database (after hooks run in reverse).
 */
export function testDb(iso: Isolation): Db {
  const client = new MongoClient(mongoUri());
  const db = client.db(iso.dbName());
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });
  return db;
}
