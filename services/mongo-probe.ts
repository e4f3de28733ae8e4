import { MongoClient, MongoBulkWriteError, type Db } from 'mongodb';
import { DUPLICATE_KEY, isDuplicateKeyError, writeFailures } from '../pipeline/store/bulk-errors';

/** One MongoDB feature the product relies on, tried against a live server. */
export interface ProbeResult {
  feature: string;
  ok: boolean;
  detail: string;
}

type Probe = { feature: string; run: (db: Db, client: MongoClient) => Promise<string> };

const fail = (msg: string): never => {
  throw new Error(msg);
};
const errText = (err: unknown) => {
  const e = err as { code?: number; codeName?: string; message?: string };
  return `${e.code !== undefined ? `code ${e.code}${e.codeName ? ` ${e.codeName}` : ''}: ` : ''}${e.message ?? String(err)}`.slice(0, 160);
};

const probes: Probe[] = [
  {
    feature: 'hello command',
    run: async (db) => `isWritablePrimary=${(await db.admin().command({ hello: 1 })).isWritablePrimary}`,
  },
  {
    feature: 'buildInfo',
    run: async (db) => {
      const info = await db.admin().command({ buildInfo: 1 });
      return `version ${info.version}${info.gitVersion ? '' : ' (no gitVersion)'}`;
    },
  },
  {
    feature: 'unordered insertMany: duplicates rejected with 11000 on a unique compound index, the rest inserted',
    run: async (db) => {
      const c = db.collection('dups');
      await c.createIndex({ r: 1, m: 1, t: 1 }, { unique: true });
      await c.insertOne({ r: 'a', m: 'cpu', t: 1 });
      const docs = [{ r: 'a', m: 'cpu', t: 1 }, { r: 'a', m: 'cpu', t: 2 }, { r: 'a', m: 'cpu', t: 2 }, { r: 'b', m: 'cpu', t: 1 }];
      try {
        await c.insertMany(docs, { ordered: false });
        return fail('no error for duplicates');
      } catch (err) {
        if (!(err instanceof MongoBulkWriteError)) throw err;
        const codes = writeFailures(err).map((w) => w.code);
        const stored = await c.countDocuments();
        if (codes.length !== 2 || codes.some((code) => code !== DUPLICATE_KEY)) fail(`write error codes ${JSON.stringify(codes)}, expected two 11000`);
        if (err.result.insertedCount !== 2 || stored !== 3) fail(`insertedCount ${err.result.insertedCount}, stored ${stored}; expected 2 and 3`);
        return 'two 11000 write errors, other two inserted';
      }
    },
  },
  {
    feature: 'bulkWrite upserts',
    run: async (db) => {
      const c = db.collection('upserts');
      const r = await c.bulkWrite([
        { updateOne: { filter: { k: 1 }, update: { $inc: { n: 1 } }, upsert: true } },
        { updateOne: { filter: { k: 1 }, update: { $inc: { n: 1 } }, upsert: true } },
        { updateOne: { filter: { k: 2 }, update: { $set: { n: 5 } }, upsert: true } },
      ], { ordered: true });
      const k1 = await c.findOne({ k: 1 });
      if (r.upsertedCount !== 2 || r.modifiedCount !== 1 || k1?.n !== 2) fail(`upserted ${r.upsertedCount}, modified ${r.modifiedCount}, n=${k1?.n}`);
      return 'upserted 2, modified 1';
    },
  },
  {
    feature: '$addToSet with $each',
    run: async (db) => {
      const c = db.collection('sets');
      await c.insertOne({ _id: 'x' as never, tags: ['a'] });
      await c.updateOne({ _id: 'x' as never }, { $addToSet: { tags: { $each: ['a', 'b', 'c', 'b'] } } });
      const tags = (await c.findOne({ _id: 'x' as never }))?.tags;
      if (JSON.stringify(tags) !== '["a","b","c"]') fail(`tags ${JSON.stringify(tags)}`);
      return 'tags [a,b,c]';
    },
  },
  {
    feature: 'aggregate $group ($sum, $avg, $max)',
    run: async (db) => {
      const c = db.collection('agg');
      await c.insertMany([{ m: 'cpu', v: 1 }, { m: 'cpu', v: 3 }, { m: 'mem', v: 10 }]);
      const out = await c.aggregate([{ $group: { _id: '$m', s: { $sum: '$v' }, a: { $avg: '$v' }, x: { $max: '$v' } } }, { $sort: { _id: 1 } }]).toArray();
      if (out.length !== 2 || out[0]!.s !== 4 || out[0]!.a !== 2) fail(JSON.stringify(out));
      return 'grouped 2 meters';
    },
  },
  {
    feature: 'aggregate $dateTrunc',
    run: async (db) => {
      const c = db.collection('dates');
      await c.insertOne({ t: new Date('2024-01-01T10:17:00Z') });
      const [r] = await c.aggregate([{ $project: { h: { $dateTrunc: { date: '$t', unit: 'hour' } } } }]).toArray();
      if ((r?.h as Date | undefined)?.toISOString() !== '2024-01-01T10:00:00.000Z') fail(JSON.stringify(r));
      return 'truncated to the hour';
    },
  },
  {
    feature: 'aggregate $merge into another collection',
    run: async (db) => {
      const c = db.collection('mergesrc');
      await c.insertMany([{ m: 'cpu', v: 1 }, { m: 'cpu', v: 2 }]);
      await c.aggregate([{ $group: { _id: '$m', total: { $sum: '$v' } } }, { $merge: { into: 'mergedst', whenMatched: 'replace' } }]).toArray();
      const d = await db.collection('mergedst').findOne({ _id: 'cpu' as never });
      if (d?.total !== 3) fail(JSON.stringify(d));
      return 'merged total 3';
    },
  },
  {
    feature: 'dbStats dataSize / avgObjSize',
    run: async (db) => {
      await db.collection('stats').insertMany([{ a: 'x'.repeat(100) }, { a: 'y'.repeat(100) }]);
      const s = await db.command({ dbStats: 1 });
      if (!(s.dataSize > 0) || !(s.avgObjSize > 0)) fail(`dataSize=${s.dataSize} avgObjSize=${s.avgObjSize}`);
      return `dataSize ${s.dataSize}, avgObjSize ${s.avgObjSize}`;
    },
  },
  {
    feature: 'collStats (size, count, storageSize)',
    run: async (db) => {
      await db.collection('cstats').insertOne({ a: 1 });
      const s = await db.command({ collStats: 'cstats' });
      if (!(s.size > 0) || s.count !== 1) fail(`size=${s.size} count=${s.count}`);
      return `size ${s.size}, storageSize ${s.storageSize}`;
    },
  },
  {
    feature: 'serverStatus opcounters',
    run: async (db) => {
      const s = await db.admin().command({ serverStatus: 1 });
      if (!s.opcounters) fail(`no opcounters (process: ${s.process})`);
      return `insert ${s.opcounters.insert}`;
    },
  },
  {
    feature: 'createIndexes partialFilterExpression',
    run: async (db) => {
      const c = db.collection('partial');
      await c.createIndex({ k: 1 }, { unique: true, partialFilterExpression: { live: true } });
      await c.insertMany([{ k: 1, live: false }, { k: 1, live: false }, { k: 1, live: true }]);
      const err = await c.insertOne({ k: 1, live: true }).then(() => undefined, (e) => e);
      if (!isDuplicateKeyError(err)) fail('duplicate inside the partial filter not rejected');
      return 'unique only within the filter';
    },
  },
  {
    feature: 'createIndexes TTL (expireAfterSeconds)',
    run: async (db) => {
      const c = db.collection('ttl');
      await c.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
      const idx = (await c.indexes()).find((i) => i.name === 'at_1');
      if (idx?.expireAfterSeconds !== 3600) fail(`index ${JSON.stringify(idx)}`);
      return 'index recorded (expiry itself not checked)';
    },
  },
  {
    feature: 'write concern majority',
    run: async (db) => {
      const r = await db.collection('wc').insertOne({ a: 1 }, { writeConcern: { w: 'majority', wtimeoutMS: 5000 } });
      return `acknowledged=${r.acknowledged}`;
    },
  },
  {
    feature: 'multi-document transaction',
    run: async (db, client) => {
      const c = db.collection('txn');
      await c.insertOne({ _id: 'seed' as never });
      const session = client.startSession();
      try {
        await session.withTransaction(async () => {
          await c.insertOne({ a: 1 }, { session });
          await c.insertOne({ a: 2 }, { session });
        });
      } finally {
        await session.endSession();
      }
      if ((await c.countDocuments({ a: { $exists: true } })) !== 2) fail('transaction writes missing');
      return 'committed 2 inserts';
    },
  },
  {
    feature: 'replSetGetStatus (replica set)',
    run: async (db) => `${(await db.admin().command({ replSetGetStatus: 1 })).set}`,
  },
  {
    feature: 'sharding (enableSharding via mongos)',
    run: async (db) => {
      await db.admin().command({ enableSharding: db.databaseName });
      return 'enabled';
    },
  },
];

/** Try every feature against `uri` in a throw-away database; never throws for a missing feature. */
export async function probeMongo(uri: string): Promise<ProbeResult[]> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  const db = client.db(`probe_${process.pid}_${Date.now().toString(36)}`);
  const results: ProbeResult[] = [];
  try {
    for (const probe of probes) {
      try {
        results.push({ feature: probe.feature, ok: true, detail: await probe.run(db, client) });
      } catch (err) {
        results.push({ feature: probe.feature, ok: false, detail: errText(err) });
      }
    }
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
  return results;
}
