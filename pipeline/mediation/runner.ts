import { BSON, type Db, type Document } from 'mongodb';
import type { MediationOptions } from './options';
import { MERGE_ON, buildMediationPipeline } from './pipeline';
import { assertMergeTarget } from './merge-target';
import { BILLING_READ } from '../store/read-options';
import { mediateSamples, type MediationSample } from './reference';
import type { UsageDoc } from './usage-doc';

export interface MediationRun {
  mode: 'in-place' | 'in-node';
  from: Date;
  to: Date;
  durationMs: number;
  /** BSON bytes of every server reply the client received for the run. */
  bytesToClient: number;
  /** BSON bytes the client sent (commands, and for in-node the usage writes). */
  bytesFromClient: number;
  /** Usage documents written (in-node) or now present for the range (in-place). */
  usageDocs: number;
}

/** Indexes the usage collection is read by (rating per project and period, re-mediation by period). */
export async function ensureUsageIndexes(db: Db, into = 'usage'): Promise<void> {
  await db.collection(into).createIndexes([
    { key: { project_id: 1, period_start: 1, meter: 1 }, name: 'usage_project_period' },
    { key: { granularity: 1, timezone: 1, period_start: 1 }, name: 'usage_period' },
  ]);
}

const rangeFilter = (o: MediationOptions): Document => ({ granularity: o.granularity, timezone: o.timezone, period_start: { $gte: o.from, $lt: o.to } });

/**
 * Re-mediating a range replaces it: results of an earlier run that this one no longer produces (a
 * resource moved to another project or user, samples removed, a gauge no longer carried into the
 * period) must not stay behind and be billed. They are removed before the new results are written.
 */
async function clearRange(db: Db, o: MediationOptions): Promise<void> {
  const filter = rangeFilter(o);
  if (o.meters) filter.meter = { $in: o.meters };
  if (o.projects) filter.project_id = { $in: o.projects };
  await db.collection(o.into).deleteMany(filter);
}

/**
 * Mediate in place: the cluster runs the pipeline and `$merge`s into `usage`; the client only sends
 * the command and receives an empty cursor. Needs MongoDB ≥ 5.0 ($setWindowFields, $dateTrunc).
 */
export async function runMediation(db: Db, o: MediationOptions): Promise<MediationRun> {
  const t0 = performance.now();
  await assertMergeTarget(db, o.into, MERGE_ON);
  await clearRange(db, o);
  const command = { aggregate: o.source, pipeline: buildMediationPipeline(o), allowDiskUse: true, cursor: {} };
  const reply = await db.command(command);
  const durationMs = performance.now() - t0;
  const usageDocs = await db.collection(o.into).countDocuments(rangeFilter(o));
  return {
    mode: 'in-place', from: o.from, to: o.to, durationMs,
    bytesToClient: BSON.calculateObjectSize(reply), bytesFromClient: BSON.calculateObjectSize(command), usageDocs,
  };
}

const SAMPLE_FIELDS = { counter_name: 1, counter_type: 1, counter_unit: 1, counter_volume: 1, user_id: 1, project_id: 1, resource_id: 1, timestamp: 1, message_id: 1 } as const;

/**
 * The baseline the paper argues against: read the samples into Node, mediate there
 * (reference.ts) and write the results back. Same result as runMediation; counts the bytes moved.
 */
export async function runMediationInNode(db: Db, o: MediationOptions): Promise<MediationRun & { usage: UsageDoc[] }> {
  const t0 = performance.now();
  const carryMs = o.carrySeconds * 1000;
  const filter: Document = { timestamp: { $gte: new Date(o.from.getTime() - carryMs), $lt: new Date(o.to.getTime() + carryMs) } };
  if (o.meters) filter.counter_name = { $in: o.meters };
  if (o.projects) filter.project_id = { $in: o.projects };
  let bytesToClient = 0;
  const samples: MediationSample[] = [];
  for await (const raw of db.collection(o.source).find(filter, { projection: SAMPLE_FIELDS, raw: true })) {
    const buf = raw as unknown as Uint8Array;
    bytesToClient += buf.byteLength;
    samples.push(BSON.deserialize(buf) as unknown as MediationSample);
  }
  const usage = mediateSamples(samples, o);
  await clearRange(db, o);
  let bytesFromClient = 0;
  if (usage.length > 0) {
    const ops = usage.map((u) => ({ replaceOne: { filter: { _id: u._id }, replacement: u, upsert: true } }));
    for (const op of ops) bytesFromClient += BSON.calculateObjectSize(op.replaceOne.replacement);
    await db.collection<UsageDoc>(o.into).bulkWrite(ops as never, { ordered: false });
  }
  return { mode: 'in-node', from: o.from, to: o.to, durationMs: performance.now() - t0, bytesToClient, bytesFromClient, usageDocs: usage.length, usage };
}

/** Read back the mediated usage of a range, in the reference order. */
export async function readUsage(db: Db, o: Pick<MediationOptions, 'granularity' | 'timezone' | 'from' | 'to' | 'into'>): Promise<UsageDoc[]> {
  return db
    .collection<UsageDoc>(o.into)
    .find(rangeFilter(o as MediationOptions), BILLING_READ)
    .sort({ period_start: 1, resource_id: 1, meter: 1, project_id: 1, user_id: 1 })
    .toArray();
}
