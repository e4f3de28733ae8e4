import { MongoClient, type Document } from 'mongodb';
import type { Logger } from 'pino';
import type { ShardKey } from '../config';
import { dataDistribution, num, connectPrimary, parseShardHost } from '../signals';
import { DEFAULT_GEN, generateSamples } from './samples';
import { keyLabel, type KeyMeasurement } from './score';
import { median, percentile } from '../../lib/stats';

/** How many shards an explain (find or aggregate, through mongos) says the query ran on. */
export function shardsInExplain(explain: Document): number {
  const wp = explain.queryPlanner?.winningPlan;
  if (Array.isArray(wp?.shards)) return wp.shards.length;
  if (explain.shards && typeof explain.shards === 'object' && !Array.isArray(explain.shards)) return Object.keys(explain.shards).length;
  const es = explain.executionStats?.executionStages;
  if (Array.isArray(es?.shards)) return es.shards.length;
  return 1;
}

export interface AdvisorOptions {
  uri: string;
  candidates: ShardKey[];
  docs: number;
  batch: number;
  concurrency: number;
  queryRepeats: number;
  database: string;
  /** Wait this long for the balancer after loading each candidate before measuring spread. */
  settleMs: number;
  log: Logger;
}

/**
 * The real-cluster harness: for each candidate key, a fresh collection sharded on it, the same
 * generated samples inserted (insertMany, unordered, fixed concurrency), then data spread, chunks,
 * jumbo ranges, write skew and the latency + targeting of the mediation and rating queries.
 */
export async function measureKeys(o: AdvisorOptions): Promise<KeyMeasurement[]> {
  const client = new MongoClient(o.uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  try {
    const admin = client.db('admin');
    const hello = await admin.command({ hello: 1 });
    if (hello.msg !== 'isdbgrid') throw new Error(`${o.uri} is not a mongos (hello.msg=${hello.msg ?? 'absent'}); the advisor needs a sharded cluster`);
    const shards = ((await admin.command({ listShards: 1 })).shards as Document[]).map((s) => ({ name: String(s._id), hosts: parseShardHost(String(s.host)).hosts }));
    const direct = (host: string) => new MongoClient(`mongodb://${host}/?directConnection=true`, { serverSelectionTimeoutMS: 5000 }).connect();
    const inserts = async (): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const s of shards) {
        const c = await connectPrimary(direct, s.hosts);
        try {
          out[s.name] = num((await c.db('admin').command({ serverStatus: 1 })).opcounters?.insert) ?? 0;
        } finally {
          await c.close();
        }
      }
      return out;
    };
    const results: KeyMeasurement[] = [];
    for (let k = 0; k < o.candidates.length; k++) {
      const key = o.candidates[k]!;
      const name = `meter_key${k}`;
      const ns = `${o.database}.${name}`;
      const coll = client.db(o.database).collection(name);
      o.log.info({ key: keyLabel(key), ns }, 'advisor: loading candidate');
      await coll.drop().catch(() => undefined);
      await coll.createIndex({ ...key });
      await admin.command({ shardCollection: ns, key });
      const before = await inserts();
      const latencies: number[] = [];
      const gen = generateSamples(o.docs, DEFAULT_GEN);
      const t0 = performance.now();
      const worker = async () => {
        for (;;) {
          const batch: Record<string, unknown>[] = [];
          for (let i = 0; i < o.batch; i++) {
            const n = gen.next();
            if (n.done) break;
            batch.push(n.value);
          }
          if (batch.length === 0) return;
          const s = performance.now();
          await coll.insertMany(batch, { ordered: false });
          latencies.push(performance.now() - s);
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, worker));
      const elapsed = (performance.now() - t0) / 1000;
      const after = await inserts();
      const perShard = shards.map((s) => (after[s.name] ?? 0) - (before[s.name] ?? 0));
      const mean = perShard.reduce((a, b) => a + b, 0) / Math.max(1, perShard.length);
      await new Promise((r) => setTimeout(r, o.settleMs));
      const dist = dataDistribution(await admin.aggregate([{ $shardedDataDistribution: {} }]).toArray(), ns, shards.map((s) => s.name));
      const meta = await client.db('config').collection('collections').findOne({ _id: ns as never });
      const chunks = await client.db('config').collection('chunks').aggregate([{ $match: { uuid: meta?.uuid } }, { $group: { _id: '$shard', n: { $sum: 1 }, jumbo: { $sum: { $cond: [{ $eq: ['$jumbo', true] }, 1, 0] } } } }]).toArray();
      // queries: one busy resource over a day; one project over a "billing period" (the whole load)
      const sample = await coll.findOne({ resource_id: 'instance-000003' });
      const start = DEFAULT_GEN.start;
      const end = new Date(start.getTime() + o.docs * DEFAULT_GEN.stepMs);
      const rFilter = { resource_id: sample?.resource_id ?? 'instance-000003', timestamp: { $gte: start, $lt: end } };
      const pPipeline = [{ $match: { project_id: sample?.project_id ?? 'project-003', timestamp: { $gte: start, $lt: end } } }, { $group: { _id: { r: '$resource_id', m: '$counter_name' }, sum: { $sum: '$counter_volume' }, n: { $sum: 1 } } }];
      const time = async (fn: () => Promise<unknown>) => {
        const xs: number[] = [];
        for (let i = 0; i < o.queryRepeats; i++) {
          const s = performance.now();
          await fn();
          xs.push(performance.now() - s);
        }
        return median(xs);
      };
      const rMs = await time(() => coll.find(rFilter).toArray());
      const pMs = await time(() => coll.aggregate(pPipeline).toArray());
      const rShards = shardsInExplain(await coll.find(rFilter).explain('executionStats'));
      const pShards = shardsInExplain(await coll.aggregate(pPipeline).explain('queryPlanner'));
      results.push({
        key,
        shards: shards.length,
        docs: o.docs,
        insertDocsPerSec: o.docs / elapsed,
        insertP95Ms: percentile(latencies, 95),
        writeSkew: mean > 0 ? Math.max(...perShard) / mean : undefined,
        cvOwnedBytes: dist?.cv ?? 0,
        chunksPerShard: Object.fromEntries(chunks.map((c) => [String(c._id), Number(c.n)])),
        jumboChunks: chunks.reduce((a, c) => a + Number(c.jumbo), 0),
        resourceRange: { medianMs: rMs, shardsTargeted: rShards },
        projectPeriod: { medianMs: pMs, shardsTargeted: pShards },
      });
    }
    return results;
  } finally {
    await client.close();
  }
}
