import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BSON, ObjectId, type Db, type MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCeilometerPython } from '../../../services/ceilometer';
import { LegacyDuplicatesError, UNIQUE_MESSAGE_INDEX } from '../../../pipeline/store/indexes';
import { chooseKeeper, QUARANTINE_COLLECTION } from '../../../pipeline/store/takeover';
import { MeterStoreWriter } from '../../../pipeline/store/writer';
import { isolation } from '../../support/isolation';
import { REPO } from '../../support/paths';
import { mongoUri, servicesEnv } from '../../support/services';
import { connect, dropDb, testStoreConfig } from '../ingest/helpers';

// A database written by Ceilometer's old MongoDB driver (re-enacted with pymongo over messages from
// Ceilometer's own code, legacy_writer.py) holds redelivered samples twice: the product's unique
// message-id index cannot be built on it, so `serve` stops at start-up. `metering store migrate`
// takes it over without deleting anything.

const iso = isolation(import.meta.url);
const LEGACY_WRITER = readFileSync(path.join(REPO, 'test/pipeline/store/legacy_writer.py'), 'utf8');
const run = promisify(execFile);
let client: MongoClient;
const dbs: Db[] = [];

beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  for (const db of dbs) await dropDb(db);
  await client?.close();
});

const cli = (...args: string[]) =>
  run(process.execPath, [path.join(REPO, 'bin/metering.mjs'), ...args], { cwd: REPO, env: { ...process.env, ...servicesEnv(), METERING_LOG_LEVEL: 'warn' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

interface LegacySample {
  name: string;
  type: string;
  unit: string;
  volume: number;
  user_id: string;
  project_id: string;
  resource_id: string;
  timestamp: string;
  resource_metadata: Record<string, unknown>;
  message_id: string;
}

function legacySample(i: number, over: Partial<LegacySample> = {}): LegacySample {
  return {
    name: i % 2 ? 'cpu' : 'memory.usage',
    type: i % 2 ? 'cumulative' : 'gauge',
    unit: i % 2 ? 'ns' : 'MB',
    volume: i % 2 ? 1234567890123 + i : 512.0 + i,
    user_id: 'u-legacy',
    project_id: 'p-legacy',
    resource_id: `vm-${i % 3}`,
    timestamp: new Date(Date.UTC(2016, 9, 6, 12, 0, i)).toISOString(),
    resource_metadata: { display_name: `web-${i % 3}`, 'image.name': 'cirros', flavor: { vcpus: 2 } },
    message_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    ...over,
  };
}

async function writeLegacy(db: Db, batches: LegacySample[][]): Promise<number> {
  const r = await runCeilometerPython(LEGACY_WRITER, [], { input: JSON.stringify({ uri: mongoUri(), database: db.databaseName, secret: 'legacy-secret', batches }) });
  if (r.code !== 0) throw new Error(`legacy writer failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { inserted: number }).inserted;
}

const canonical = (doc: unknown) => BSON.EJSON.stringify(doc, { relaxed: false });

describe('legacy takeover: a database written by Ceilometer’s old MongoDB driver', () => {
  it('serve refuses it naming the command; migrate (dry run, then for real) quarantines repeats, keeps the earliest copy, builds the indexes', async () => {
    const db = client.db(iso.dbName('legacy'));
    dbs.push(db);
    const store = testStoreConfig(db.databaseName);
    const samples = Array.from({ length: 12 }, (_, i) => legacySample(i));
    // the first batch, a redelivery of its first 5 samples (stored again by the old driver), a third
    // delivery of sample 0, and one id reused with another volume (a conflict, not a redelivery)
    const inserted = await writeLegacy(db, [samples, samples.slice(0, 5), samples.slice(0, 1), [legacySample(7, { volume: 99 })]]);
    expect(inserted).toBe(12 + 5 + 1 + 1);
    const before = await db.collection('meter').find().sort({ _id: 1 }).toArray();
    expect(before).toHaveLength(19);

    // what `serve` does at start-up: the unique index cannot be built, and the error names the way out
    const writer = new MeterStoreWriter(db, store);
    const refused = await writer.prepare().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(LegacyDuplicatesError);
    expect((refused as Error).message).toMatch(/metering store migrate --uri <store.uri> --database t_/);

    // dry run: the report, nothing written
    const dry = await cli('store', 'migrate', '--database', db.databaseName, '--dry-run', '--json');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const dryReport = JSON.parse(dry.stdout);
    expect(dryReport).toMatchObject({ dry_run: true, unique_key: ['project_id', 'message_id'], documents: 19, duplicate_groups: 6, quarantined: 7, conflicting_groups: 1 });
    expect(await db.collection('meter').countDocuments()).toBe(19);
    expect((await db.listCollections().toArray()).map((c) => c.name)).not.toContain(QUARANTINE_COLLECTION);

    // the takeover
    const real = await cli('store', 'migrate', '--database', db.databaseName, '--json');
    expect(real.code).toBe(0);
    const report = JSON.parse(real.stdout);
    expect(report).toMatchObject({ dry_run: false, duplicate_groups: 6, quarantined: 7, conflicting_groups: 1 });
    expect(report.indexes.created).toContain(`meter.${UNIQUE_MESSAGE_INDEX}`);

    // one copy of each message id: the earliest recorded one, byte for byte as the old driver wrote it
    const after = await db.collection('meter').find().toArray();
    expect(after).toHaveLength(12);
    expect(new Set(after.map((d) => d.message_id)).size).toBe(12);
    const earliest = new Map<string, (typeof before)[number]>();
    for (const doc of before) {
      const seen = earliest.get(doc.message_id);
      if (!seen || doc.recorded_at < seen.recorded_at || (+doc.recorded_at === +seen.recorded_at && doc._id.toHexString() < seen._id.toHexString())) earliest.set(doc.message_id, doc);
    }
    for (const doc of after) expect(canonical(doc)).toBe(canonical(earliest.get(doc.message_id)));

    // nothing deleted: every other copy is in the quarantine, whole, with the kept copy and a reason
    const quarantined = await db.collection(QUARANTINE_COLLECTION).find().toArray();
    expect(quarantined).toHaveLength(7);
    const keptIds = new Set(after.map((d) => d._id.toHexString()));
    const originals = new Map(before.map((d) => [d._id.toHexString(), d]));
    for (const q of quarantined) {
      expect(canonical(q.original)).toBe(canonical(originals.get((q._id as ObjectId).toHexString())));
      expect(keptIds.has((q.kept_id as ObjectId).toHexString())).toBe(true);
    }
    expect(quarantined.filter((q) => /different content/.test(q.reason))).toHaveLength(1);
    expect(quarantined.length + after.length).toBe(before.length);

    // the store now starts, and a second run finds nothing to do
    await expect(new MeterStoreWriter(db, store).prepare()).resolves.toBeDefined();
    const again = JSON.parse((await cli('store', 'migrate', '--database', db.databaseName, '--json')).stdout);
    expect(again).toMatchObject({ duplicate_groups: 0, quarantined: 0 });
    expect(await db.collection('meter').countDocuments()).toBe(12);
  }, 120_000);

  it('a run stopped between quarantine and delete is finished by the next run (a copy is never in neither place)', async () => {
    const db = client.db(iso.dbName('crash'));
    dbs.push(db);
    await writeLegacy(db, [[legacySample(1), legacySample(2)], [legacySample(1)]]);
    const copies = await db.collection('meter').find({ message_id: legacySample(1).message_id }).sort({ recorded_at: 1 }).toArray();
    expect(copies).toHaveLength(2);
    // the state a crash right after the quarantine write leaves: the later copy in both places
    await db.collection(QUARANTINE_COLLECTION).insertOne({ _id: copies[1]!._id, original: copies[1], kept_id: copies[0]!._id, key: { message_id: copies[0]!.message_id }, reason: 'duplicate message id (same content as the kept copy)', quarantined_at: new Date() });
    const r = await cli('store', 'migrate', '--database', db.databaseName, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ duplicate_groups: 1, quarantined: 1 });
    expect(await db.collection('meter').countDocuments()).toBe(2);
    expect(await db.collection(QUARANTINE_COLLECTION).countDocuments()).toBe(1);
  }, 60_000);

  it('keeps the earliest recorded copy; ties go to the smaller _id; a copy without recorded_at counts as latest', () => {
    const a = new ObjectId('000000000000000000000001');
    const b = new ObjectId('000000000000000000000002');
    const c = new ObjectId('000000000000000000000003');
    const t = (s: number) => new Date(Date.UTC(2016, 0, 1, 0, 0, s));
    expect(chooseKeeper({ key: {}, copies: [{ _id: b, recorded_at: t(5), digest: 'x' }, { _id: a, recorded_at: t(9), digest: 'x' }] }).keep._id).toBe(b);
    expect(chooseKeeper({ key: {}, copies: [{ _id: b, recorded_at: t(5), digest: 'x' }, { _id: a, recorded_at: t(5), digest: 'x' }] }).keep._id).toBe(a);
    const choice = chooseKeeper({ key: {}, copies: [{ _id: c, recorded_at: null, digest: 'x' }, { _id: b, recorded_at: t(1), digest: 'y' }] });
    expect(choice.keep._id).toBe(b);
    expect(choice.sameContent).toBe(false);
  });
});
