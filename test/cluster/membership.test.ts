import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import pino from 'pino';
import { Membership, MEMBERS_COLLECTION, type MemberDoc } from '../../cluster/membership';
import { isolation } from '../support/isolation';
import { mongoUri } from '../support/services';

/**
 * Reading the members (`GET /v1/cluster/controllers`) and the readiness probe only read: N of them send
 * no write to the store, a dead member still shows as dead (liveness by the store's clock of this
 * controller's last heartbeat), and pruning the long-gone is the periodic heartbeat's job.
 */
const iso = isolation(import.meta.url);
const log = pino({ level: 'silent' });
const TTL = 1000;
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'createIndexes']);
let client: MongoClient;
let db: Db;
const commands: CommandStartedEvent[] = [];

beforeAll(async () => {
  client = new MongoClient(mongoUri(), { monitorCommands: true });
  await client.connect();
  client.on('commandStarted', (e) => commands.push(e));
  db = client.db(iso.dbName());
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

describe('cluster membership: reads do not write', () => {
  it('N lists and readiness checks send no write; a dead member shows dead; the heartbeat prunes the long-gone', async () => {
    // a heartbeat interval far longer than the test: only the test's own calls touch the store
    const m = new Membership(db, { id: 'me', instance: 'me#1', address: 'http://127.0.0.1:1', host: 'h', pid: 1 }, { heartbeatIntervalMs: 3_600_000, memberTtlMs: TTL, log });
    await m.start();
    const coll = db.collection<MemberDoc>(MEMBERS_COLLECTION);
    const mine = (await coll.findOne({ _id: 'me' }))!;
    const at = (msAgo: number) => new Date(mine.heartbeat_at.getTime() - msAgo);
    const other = { address: 'http://127.0.0.1:2', host: 'h2', pid: 2, started_at: at(60_000), partitions: null };
    await coll.insertMany([
      { _id: 'dead', instance: 'dead#1', heartbeat_at: at(3 * TTL), ...other },
      { _id: 'long-gone', instance: 'gone#1', heartbeat_at: at(20 * TTL), ...other },
    ]);

    commands.length = 0;
    for (let i = 0; i < 5; i++) {
      const { members } = await m.list();
      expect(members.map((x) => [x.id, x.alive])).toEqual([['dead', false], ['long-gone', false], ['me', true]]);
      await m.ready();
      await new Promise((r) => setTimeout(r, 5));
    }
    const writes = commands.filter((c) => WRITES.has(c.commandName));
    expect(writes.map((c) => c.commandName)).toEqual([]);
    expect((await coll.findOne({ _id: 'me' }))!.heartbeat_at).toEqual(mine.heartbeat_at);

    // the periodic heartbeat writes, and removes the controller gone for ten TTLs (not the merely dead)
    await new Promise((r) => setTimeout(r, TTL + 50)); // pruning at most once per TTL: the start's run was one
    await m.heartbeat();
    expect((await coll.find({}).toArray()).map((d) => d._id).sort()).toEqual(['dead', 'me']);
    await m.close();
  });

  it('readiness fails, naming why, for a controller whose entry is gone', async () => {
    const m = new Membership(db, { id: 'lost', instance: 'lost#1', address: 'http://127.0.0.1:3', host: 'h', pid: 3 }, { heartbeatIntervalMs: 3_600_000, memberTtlMs: TTL, log });
    await m.start();
    await m.ready();
    await db.collection<MemberDoc>(MEMBERS_COLLECTION).deleteOne({ _id: 'lost' });
    await expect(m.ready()).rejects.toThrow(/this controller \(lost\) is not registered in cluster_controllers/);
    await m.close();
  });
});
