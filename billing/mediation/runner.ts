import { BSON, type Db, type Document } from 'mongodb';
import type { MediationOptions } from './options';
import { MERGE_ON, buildMediationPipeline } from './pipeline';
import { assertMergeTarget } from './merge-target';
import { BILLING_READ } from '../../pipeline/store/read-options';
import { mediateSamples, type MediationSample } from './reference';
import { volumeNumber } from '../../pipeline/ceilometer/bson-numbers';
import { currentRuns, newRunId, readCurrent, switchRun } from './runs';
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
    { key: { granularity: 1, timezone: 1, period_start: 1, run: 1 }, name: 'usage_period_run' },
  ]);
}

const rangeFilter = (o: Pick<MediationOptions, 'granularity' | 'timezone' | 'from' | 'to'>): Document => ({ granularity: o.granularity, timezone: o.timezone, period_start: { $gte: o.from, $lt: o.to } });

/** Test seams: called between the steps of a run (a throw here is a crash at that point). */
export interface RunHooks {
  afterWrite?(run: string): Promise<void> | void;
}

export interface RunContext {
  /** Checked just before the switch: throws when the range's lock was lost (lock.ts). */
  assertHeld?(): Promise<void>;
  hooks?: RunHooks;
  /** In-Node mediation reads the raw samples through this handle (store.reads.mediation routes them to a secondary); pointers and writes stay on `db`. */
  sourceDb?: Db;
}

const usageScope = (o: MediationOptions) => ({ kind: o.into, granularity: o.granularity, timezone: o.timezone });

/**
 * A run limited to some meters or projects replaces only those: the current run's other documents are
 * copied into the new run (in batches, bounded memory) so the switch keeps them.
 */
async function copyUntouched(db: Db, o: MediationOptions, run: string): Promise<void> {
  if (!o.meters && !o.projects) return;
  const { current } = await currentRuns(db, usageScope(o), o.from, o.to);
  const runs = [...new Set([...current.values()].map((p) => p.run))];
  if (runs.length === 0) return;
  const keep: Document[] = [];
  if (o.meters) keep.push({ meter: { $nin: o.meters } });
  if (o.projects) keep.push({ project_id: { $nin: o.projects } });
  const coll = db.collection<UsageDoc>(o.into);
  let batch: UsageDoc[] = [];
  const flush = async () => {
    if (batch.length) await coll.bulkWrite(batch.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })) as never, { ordered: false });
    batch = [];
  };
  for await (const d of coll.find({ ...rangeFilter(o), run: { $in: runs }, $or: keep })) {
    batch.push({ ...d, _id: { ...d._id, run }, run });
    if (batch.length >= 1000) await flush();
  }
  await flush();
}

/**
 * Make the run current and remove what it replaced: every other run's documents in the range (the
 * previous run, and orphans of runs that crashed before switching).
 */
async function switchAndClean(db: Db, o: MediationOptions, run: string, startedAt: Date, ctx: RunContext): Promise<void> {
  await ctx.hooks?.afterWrite?.(run);
  await ctx.assertHeld?.();
  await switchRun(db, usageScope(o), o.from, o.to, { run, started_at: startedAt });
  await db.collection(o.into).deleteMany({ ...rangeFilter(o), run: { $ne: run } });
}

/**
 * Mediate in place: the cluster runs the pipeline and `$merge`s into `usage` under a new run id; the
 * client only sends the command and receives an empty cursor. Then the range switches to the run.
 * Needs MongoDB ≥ 5.0 ($setWindowFields, $dateTrunc).
 */
export async function runMediation(db: Db, o: MediationOptions, ctx: RunContext = {}): Promise<MediationRun> {
  const t0 = performance.now();
  await assertMergeTarget(db, o.into, MERGE_ON);
  const run = newRunId();
  const startedAt = new Date();
  const command = { aggregate: o.source, pipeline: buildMediationPipeline({ ...o, run, exact: true }), allowDiskUse: true, cursor: {} };
  const reply = await db.command(command);
  await copyUntouched(db, o, run);
  await switchAndClean(db, o, run, startedAt, ctx);
  const durationMs = performance.now() - t0;
  const usageDocs = await db.collection(o.into).countDocuments({ ...rangeFilter(o), run });
  return {
    mode: 'in-place', from: o.from, to: o.to, durationMs,
    bytesToClient: BSON.calculateObjectSize(reply), bytesFromClient: BSON.calculateObjectSize(command), usageDocs,
  };
}

const SAMPLE_FIELDS = { counter_name: 1, counter_type: 1, counter_unit: 1, counter_volume: 1, user_id: 1, project_id: 1, resource_id: 1, timestamp: 1, message_id: 1 } as const;
const WRITE_BATCH = 1000;

/**
 * Mediate a range in Node, streaming with bounded memory: the samples arrive sorted by series
 * (resource, meter, time), one series is mediated at a time (reference.ts) and its usage documents go
 * to `onDocs`; memory is one series, not the range. Returns the bytes read from the server.
 */
export async function streamMediation(db: Db, o: MediationOptions, onDocs: (docs: UsageDoc[]) => Promise<void>): Promise<{ bytesToClient: number; samples: number }> {
  const carryMs = o.carrySeconds * 1000;
  const filter: Document = { timestamp: { $gte: new Date(o.from.getTime() - carryMs), $lt: new Date(o.to.getTime() + carryMs) } };
  if (o.meters) filter.counter_name = { $in: o.meters };
  if (o.projects) filter.project_id = { $in: o.projects };
  let bytesToClient = 0;
  let samples = 0;
  let series: MediationSample[] = [];
  let seriesKey: string | undefined;
  const mediateSeries = async () => {
    if (series.length === 0) return;
    const docs = mediateSamples(series, o);
    series = [];
    if (docs.length) await onDocs(docs);
  };
  const cursor = db.collection(o.source).find(filter, { projection: SAMPLE_FIELDS, raw: true, sort: { resource_id: 1, counter_name: 1, timestamp: 1, message_id: 1 }, allowDiskUse: true, batchSize: 2000 });
  for await (const raw of cursor) {
    const buf = raw as unknown as Uint8Array;
    bytesToClient += buf.byteLength;
    samples++;
    const s = BSON.deserialize(buf) as unknown as MediationSample;
    // int64 volumes beyond 2^53 come back as Long (Ceilometer's types are kept in the store)
    if (typeof s.counter_volume !== 'number') s.counter_volume = volumeNumber(s.counter_volume);
    const key = `${s.resource_id}\u0000${s.counter_name}`;
    if (key !== seriesKey) {
      await mediateSeries();
      seriesKey = key;
    }
    series.push(s);
  }
  await mediateSeries();
  return { bytesToClient, samples };
}

/**
 * The baseline the paper argues against, and what runs on a store without the pipeline operators:
 * read the samples into Node and mediate there (streamMediation: bounded memory), writing the usage
 * documents in batches under a new run id, then switch the range to it.
 */
export async function runMediationInNode(db: Db, o: MediationOptions, ctx: RunContext = {}): Promise<MediationRun & { usage: UsageDoc[] }> {
  const t0 = performance.now();
  const run = newRunId();
  const startedAt = new Date();
  let bytesFromClient = 0;
  let usageDocs = 0;
  const keepSample: UsageDoc[] = []; // the first batch, returned for callers that print it (bounded)
  let batch: UsageDoc[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const ops = batch.map((u) => ({ replaceOne: { filter: { _id: u._id }, replacement: u, upsert: true } }));
    for (const op of ops) bytesFromClient += BSON.calculateObjectSize(op.replaceOne.replacement);
    await db.collection<UsageDoc>(o.into).bulkWrite(ops as never, { ordered: false });
    usageDocs += batch.length;
    batch = [];
  };
  const { bytesToClient } = await streamMediation(ctx.sourceDb ?? db, { ...o, run, exact: true }, async (docs) => {
    for (const u of docs) {
      batch.push(u);
      if (keepSample.length < WRITE_BATCH) keepSample.push(u);
    }
    if (batch.length >= WRITE_BATCH) await flush();
  });
  await flush();
  await copyUntouched(db, o, run);
  await switchAndClean(db, o, run, startedAt, ctx);
  return { mode: 'in-node', from: o.from, to: o.to, durationMs: performance.now() - t0, bytesToClient, bytesFromClient, usageDocs, usage: keepSample };
}

/**
 * Read back the current mediated usage of a range (only the runs the range's pointers name, read
 * consistently: see runs.ts), in the reference order. `extra` narrows it (projects, meter).
 */
export async function readUsage(db: Db, o: Pick<MediationOptions, 'granularity' | 'timezone' | 'from' | 'to' | 'into'>, extra: Document = {}, limit?: number): Promise<UsageDoc[]> {
  return readCurrent(db, { kind: o.into, granularity: o.granularity, timezone: o.timezone }, o.from, o.to, async (runs) => {
    const cursor = db
      .collection<UsageDoc>(o.into)
      .find({ ...rangeFilter(o), ...extra, run: { $in: runs } }, BILLING_READ)
      .sort({ period_start: 1, resource_id: 1, meter: 1, project_id: 1, user_id: 1 });
    const docs = await (limit ? cursor.limit(limit) : cursor).toArray();
    // In-place sums of int64 volumes are int64; beyond 2^53 the driver hands back a Long: rate with numbers.
    for (const doc of docs) {
      const d = doc as unknown as Record<string, unknown>;
      for (const k of Object.keys(d)) {
        const v = d[k];
        if (v !== null && typeof v === 'object' && ['Long', 'Double', 'Int32', 'Decimal128'].includes((v as { _bsontype?: string })._bsontype ?? '')) d[k] = volumeNumber(v);
      }
    }
    return docs;
  });
}
