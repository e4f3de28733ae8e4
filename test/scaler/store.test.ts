import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log';
import { DecisionRepository } from '../../scaler/decisions';
import { collectSignals } from '../../scaler/signals';
import { mongoUri } from '../support/services';

/** Runs on whatever MongoDB the test run has (real mongod or the stand-in): plain CRUD only. */
describe('scaler_decisions repository and the collector on a non-sharded server', () => {
  const dbName = `scaler_test_${process.pid}_${Date.now()}`;
  let client: MongoClient;

  beforeAll(async () => {
    client = await new MongoClient(mongoUri(), { serverSelectionTimeoutMS: 10_000 }).connect();
  });
  afterAll(async () => {
    await client?.db(dbName).dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('stores decisions with their inputs and outcome, newest first, actions-only filter', async () => {
    const repo = new DecisionRepository(client.db(dbName));
    const t = Date.parse('2026-02-01T00:00:00Z');
    const id = await repo.record({ t: new Date(t), action: 'add-shard', reason: 'sh0 cpu 95 > 90 for 10m', inputs: { shardCount: 2, hot: [{ shard: 'sh0', metric: 'cpu' }] } });
    await repo.record({ t: new Date(t + 60_000), action: 'none', reason: 'steady', inputs: {} });
    await repo.setOutcome(id, { status: 'done', detail: 'added sh2', at: new Date(t + 120_000), counts: { before: 10, after: 10 } });
    const all = await repo.history();
    expect(all.map((d) => d.action)).toEqual(['none', 'add-shard']);
    const acts = await repo.history({ actionsOnly: true });
    expect(acts).toHaveLength(1);
    expect(acts[0]).toMatchObject({ action: 'add-shard', inputs: { shardCount: 2 }, outcome: { status: 'done', counts: { before: 10, after: 10 } } });
  });

  it('the collector skips what an unsharded server does not support instead of failing', async () => {
    const log = createLogger('scaler-test', 'silent');
    const r = await collectSignals({ mongos: client, connect: async () => client, log, database: dbName, collection: 'meter', withDistribution: true }, new Map());
    expect(r.observations).toEqual([]); // listShards is not available, so no shard is known
    expect(r.skipped.some((s) => s.startsWith('listShards'))).toBe(true);
    expect(r.skipped.some((s) => s.startsWith('$shardedDataDistribution'))).toBe(true);
  });
});
