import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log';
import { Actuator, loopbackHeadroom, nextName } from '../../scaler/actuator';
import { findBinaries, NO_BINARIES_MESSAGE, realBinariesConfigured } from '../../scaler/cluster/binaries';
import { clusterDown, clusterStatus, clusterUp, renderStatus, formatBytes } from '../../scaler/cluster/cluster';
import { LocalProcessProvisioner } from '../../scaler/cluster/local';
import { withDirect } from '../../scaler/cluster/local';
import { initShardedStore } from '../../scaler/store-init';
import { assertMergeTarget } from '../../billing/mediation/merge-target';
import { seedList } from '../../scaler/cluster/provisioner';
import { mongodArgs, mongosArgs, nextShardName, portFor } from '../../scaler/cluster/state';
import { clusterConfig, scalerConfig } from '../../scaler/config';
import { DecisionRepository } from '../../scaler/decisions';
import { measureKeys } from '../../scaler/shard-key/runner';
import { scoreKeys } from '../../scaler/shard-key/score';
import { generateSamples } from '../../scaler/shard-key/samples';
import { REPO } from '../support/paths';

const run = promisify(execFile);

describe('local cluster layout (pure)', () => {
  it('puts every process on 127.0.0.1 with a 0.25 GB cache and non-overlapping ports', () => {
    const args = mongodArgs({ role: 'shardsvr', replSet: 'sh1', port: portFor(28000, 1), dbpath: '/d', cacheGB: 0.25 });
    expect(args).toEqual(['--shardsvr', '--replSet', 'sh1', '--port', '28020', '--dbpath', '/d', '--bind_ip', '127.0.0.1', '--wiredTigerCacheSizeGB', '0.25']);
    expect(mongosArgs({ configDb: 'cfg/127.0.0.1:28000', port: 28001 })).toEqual(['--configdb', 'cfg/127.0.0.1:28000', '--port', '28001', '--bind_ip', '127.0.0.1']);
    const ports = [portFor(28000, 'cfg'), portFor(28000, 'mongos'), ...[0, 1, 2].flatMap((k) => [0, 1, 2].map((m) => portFor(28000, k, m)))];
    expect(new Set(ports).size).toBe(ports.length);
    expect(() => portFor(28000, 0, 10)).toThrow(/member index/);
    expect(seedList({ name: 'sh2', hosts: ['127.0.0.1:28030', '127.0.0.1:28031'] })).toBe('sh2/127.0.0.1:28030,127.0.0.1:28031');
  });

  it('names new shards after the existing ones', () => {
    expect(nextName(['sh0', 'sh1'])).toBe('sh2');
    expect(nextName(['sh0', 'sh2'])).toBe('sh1');
    expect(nextShardName({ basePort: 1, replicaSets: { cfg: { role: 'configsvr', members: [] }, sh0: { role: 'shardsvr', members: [] } } })).toEqual({ name: 'sh1', index: 1 });
  });

  it('renders data per shard as text bars', () => {
    const text = renderStatus({
      uri: 'mongodb://127.0.0.1:28001/',
      balancer: { mode: 'full', inBalancerRound: false, rounds: 12 },
      shards: [
        { name: 'sh0', hosts: ['127.0.0.1:28010'], draining: false, ownedBytes: 4 * 1024 * 1024, ownedDocs: 4000 },
        { name: 'sh1', hosts: ['127.0.0.1:28020'], draining: true, ownedBytes: 1024 * 1024, ownedDocs: 1000 },
      ],
      collections: [{ ns: 'metering.meter', cv: 0.6, totalBytes: 5 * 1024 * 1024 }],
    });
    const [sh0, sh1] = text.split('\n').filter((l) => l.startsWith('sh'));
    expect((sh0!.match(/█/g) ?? []).length).toBe(30);
    expect((sh1!.match(/█/g) ?? []).length).toBe(8); // 1/4 of 30, rounded
    expect(sh1).toContain('(draining)');
    expect(text).toContain('balancer: full');
    expect(text).toContain('metering.meter: 5.0 MB, spread CV 0.600');
    expect(formatBytes(512)).toBe('512 B');
  });

  it('config defaults: chunk size 1 MB, cache 0.25 GB, default key {resource_id: hashed, timestamp: 1}', () => {
    const c = scalerConfig.parse(undefined);
    expect(c.cluster).toMatchObject({ chunkSizeMB: 1, wiredTigerCacheSizeGB: 0.25 });
    expect(c.shardKey.default).toEqual({ resource_id: 'hashed', timestamp: 1 });
    expect(c.shardKey.candidates).toContainEqual({ timestamp: 1 });
    expect(() => scalerConfig.parse({ cluster: { shard: 2 } })).toThrow();
  });
});

describe('missing binaries', () => {
  it('explains what to set, and `cluster up` exits 2', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'nobin-'));
    const saved = process.env.MONGO_BIN_DIR;
    process.env.MONGO_BIN_DIR = empty;
    try {
      await expect(findBinaries()).rejects.toThrow(NO_BINARIES_MESSAGE);
    } finally {
      if (saved === undefined) delete process.env.MONGO_BIN_DIR;
      else process.env.MONGO_BIN_DIR = saved;
    }
    const r = await run(process.execPath, [path.join(REPO, 'bin', 'metering.mjs'), 'cluster', 'up', '--shards', '2'], { cwd: REPO, env: { ...process.env, MONGO_BIN_DIR: empty } }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toContain('metering: no mongod/mongos binaries: set MONGO_BIN_DIR=/path/to/mongodb/bin (MongoDB 7.0/8.0)');
    rmSync(empty, { recursive: true, force: true });
  }, 30_000);
});

const realBins = realBinariesConfigured();
if (!realBins) console.warn('skipped: needs real mongod/mongos (set MONGO_BIN_DIR): local sharded cluster, actuator (addShard/removeShard/replSetReconfig), shard-key advisor');

describe.skipIf(!realBins)('real sharded cluster (MONGO_BIN_DIR)', () => {
  const log = createLogger('scaler-test', 'warn');
  const dir = mkdtempSync(path.join(tmpdir(), 'scaler-cluster-'));
  const cfg = clusterConfig.parse({ basePort: 28600, shards: 2 });
  const scfg = scalerConfig.parse({ cluster: { basePort: 28600 }, balancerTimeoutSec: 300 });
  let uri = '';
  let client: MongoClient;
  let actuator: Actuator;

  beforeAll(async () => {
    const up = await clusterUp(cfg, 2, log, dir);
    uri = up.uri;
    client = await new MongoClient(uri).connect();
    const binaries = await findBinaries();
    const provisioner = new LocalProcessProvisioner({ binaries, dir, basePort: cfg.basePort, cacheGB: cfg.wiredTigerCacheSizeGB, startTimeoutMs: 60_000, log });
    actuator = new Actuator({ mongos: client, provisioner, headroom: loopbackHeadroom, config: scfg, log, decisions: new DecisionRepository(client.db(scfg.database)), pollMs: 500 });
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await clusterDown(log, dir);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('cluster up: 2 shards, chunk size 1 MB, balancer on', async () => {
    const s = await clusterStatus(uri);
    expect(s.shards.map((x) => x.name)).toEqual(['sh0', 'sh1']);
    expect(s.balancer.mode).toBe('full');
    expect((await client.db('config').collection('settings').findOne({ _id: 'chunksize' as never }))?.value).toBe(1);
  });

  it('scale-out refuses an unsharded meter (sharding happens at deployment, not under load)', async () => {
    await expect(actuator.apply({ t: new Date(), action: 'add-shard', reason: 'test', inputs: {} })).rejects.toThrow(/is not sharded: shard it at deployment with `metering store init`/);
  }, 60_000);

  it('store init shards meter on the configured key and pre-splits it on every shard before load', async () => {
    const r = await initShardedStore(client, { database: scfg.database, shardKey: { resource_id: 'hashed', timestamp: 1 } }, log);
    expect(r).toMatchObject({ status: 'sharded', documentsAtInit: 0 });
    expect(Object.keys(r.rangesPerShard).sort()).toEqual(['sh0', 'sh1']);
    expect(r.presplit).toMatch(/hashed first field resource_id/);
    expect((await initShardedStore(client, { database: scfg.database, shardKey: { resource_id: 'hashed', timestamp: 1 } })).status).toBe('already');
    await expect(initShardedStore(client, { database: scfg.database, shardKey: { timestamp: 1 } })).rejects.toThrow(/already sharded on .*not resharding automatically/);
  }, 120_000);

  it('$merge into a usage collection sharded on other fields is refused before mediation runs', async () => {
    const db = client.db(scfg.database);
    await db.collection('usage_sharded').createIndex({ project_id: 1, period_start: 1 });
    await client.db('admin').command({ shardCollection: `${scfg.database}.usage_sharded`, key: { project_id: 1, period_start: 1 } });
    await expect(assertMergeTarget(db, 'usage_sharded', ['_id'])).rejects.toThrow(/is sharded on \{"project_id":1,"period_start":1\} and the on fields lack "project_id", "period_start"/);
    await expect(assertMergeTarget(db, 'usage', ['_id'])).resolves.toBeUndefined();
  }, 60_000);

  it('scale-out adds a shard that receives data, without losing or doubling samples', async () => {
    const coll = client.db(scfg.database).collection(scfg.collection);
    const docs = [...generateSamples(20_000)];
    for (let i = 0; i < docs.length; i += 1000) await coll.insertMany(docs.slice(i, i + 1000), { ordered: false });
    const out = await actuator.apply({ t: new Date(), action: 'add-shard', reason: 'test', inputs: {} });
    expect(out.counts).toEqual({ before: 20_000, after: 20_000 });
    expect(out.shards).toEqual(['sh2']);
    expect(out.distribution!.shards.find((s) => s.shard === 'sh2')!.ownedBytes).toBeGreaterThan(0);
    const hist = await new DecisionRepository(client.db(scfg.database)).history({ actionsOnly: true });
    expect(hist[0]).toMatchObject({ action: 'add-shard', outcome: { status: 'done' } });
  }, 400_000);

  it('read-heavy: adds a secondary to a shard', async () => {
    const out = await actuator.apply({ t: new Date(), action: 'add-replica', shard: 'sh0', count: 2, reason: 'test', inputs: {} });
    expect(out.detail).toContain('3 members');
    const members = (await withDirect(out.detail.match(/\((127\.0\.0\.1:\d+)/)![1]!, (a) => a.command({ replSetGetConfig: 1 }))).config.members as { votes: number }[];
    expect(members.filter((m) => m.votes === 1)).toHaveLength(3); // odd: 1 → 3 voting members
  }, 200_000);

  it('scale-in drains a shard with removeShard until completed; counts unchanged', async () => {
    const out = await actuator.apply({ t: new Date(), action: 'remove-shard', shard: 'sh2', reason: 'test', inputs: {} });
    expect(out.counts).toEqual({ before: 20_000, after: 20_000 });
    expect((await clusterStatus(uri)).shards.map((s) => s.name)).toEqual(['sh0', 'sh1']);
  }, 400_000);

  it('shard-key advisor measures every candidate and prefers a spread key over {timestamp: 1}', async () => {
    const ms = await measureKeys({ uri, candidates: scfg.shardKey.candidates, docs: 20_000, batch: 1000, concurrency: 2, queryRepeats: 5, database: 'metering_keyadvisor_test', settleMs: 5000, log });
    expect(ms).toHaveLength(4);
    const ts = ms.find((m) => JSON.stringify(m.key) === '{"timestamp":1}')!;
    const hashed = ms.find((m) => JSON.stringify(m.key) === '{"resource_id":"hashed","timestamp":1}')!;
    expect(hashed.resourceRange.shardsTargeted).toBe(1);
    expect(hashed.writeSkew!).toBeLessThan(ts.writeSkew!);
    expect(scoreKeys(ms).at(-1)!.label).not.toBe('{resource_id: "hashed", timestamp: 1}');
  }, 600_000);
});
