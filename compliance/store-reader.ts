import type { Db, Filter } from 'mongodb';
import { COLLECTIONS, type MeterDoc } from '../pipeline/store/layout';
import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { evaluate, type Evaluation } from './rules';
import { CoresSeriesBuilder, seriesPoints, type CoresSeries } from './series';

/**
 * Reads what the licence rules need from the metering store (`meter`), for reports and the live
 * observer's warm start. Read-only: finds with a projection, nothing is written.
 *
 * At T, an instance can only be active if it has a sample in (T − window, T], so one range scan over
 * that window (the `timestamp_idx` index) gives every active instance's newest sample. Facts that
 * may be older than the window (a host's facts, an instance whose newest samples lack vcpus) are
 * looked up per resource: the newest sample at or before T that carries them.
 */

const PROJECTION = {
  _id: 0,
  resource_id: 1,
  project_id: 1,
  timestamp: 1,
  message_id: 1,
  'resource_metadata.user_metadata.product': 1,
  'resource_metadata.vcpus': 1,
  'resource_metadata.flavor.vcpus': 1,
  'resource_metadata.instance_host': 1,
  'resource_metadata.instance_id': 1,
  'resource_metadata.cpu_model': 1,
  'resource_metadata.architecture': 1,
  'resource_metadata.cpu_cores': 1,
} as const;

export interface ReadProgress {
  (scanned: number): void;
}

const meter = (db: Db) => db.collection<MeterDoc>(COLLECTIONS.meter);

/** Time of the newest stored sample, or undefined for an empty store. */
export async function newestSampleTime(db: Db): Promise<Date | undefined> {
  const doc = await meter(db).find({}, { projection: { _id: 0, timestamp: 1 } }).sort({ timestamp: -1 }).limit(1).next();
  return doc?.timestamp ?? undefined;
}

async function newestCarrying(db: Db, resourceId: string, at: Date, fields: string[]): Promise<FactSample | undefined> {
  const filter: Filter<MeterDoc> = { resource_id: resourceId, timestamp: { $lte: at }, $or: fields.map((f) => ({ [`resource_metadata.${f}`]: { $exists: true } })) } as Filter<MeterDoc>;
  return ((await meter(db).find(filter, { projection: PROJECTION }).sort({ timestamp: -1 }).limit(1).next()) as FactSample | null) ?? undefined;
}

/** Fold the samples of (at − windowS, at] into `index`, then look up older facts the active instances need. */
export async function loadFactsAt(db: Db, at: Date, windowS: number, opts: { index?: FactIndex; progress?: ReadProgress } = {}): Promise<FactIndex> {
  const index = opts.index ?? new FactIndex();
  const from = new Date(at.getTime() - windowS * 1000);
  let n = 0;
  for await (const doc of meter(db).find({ timestamp: { $gt: from, $lte: at } }, { projection: PROJECTION })) {
    index.observe(doc as FactSample);
    if (++n % 50_000 === 0) opts.progress?.(n);
  }
  opts.progress?.(n);
  const hosts = new Set<string>();
  for (const r of [...index.resources()]) {
    const t = r.newest.timestamp.getTime();
    if (r.product === undefined || t <= from.getTime()) continue;
    if (!r.vcpus) {
      const s = await newestCarrying(db, r.resource_id, at, ['vcpus', 'flavor.vcpus']);
      if (s) index.observe(s);
    }
    if (!r.host) {
      const s = await newestCarrying(db, r.resource_id, at, ['instance_host']);
      if (s) index.observe(s);
    }
    if (r.host) hosts.add(r.host.value);
  }
  for (const name of hosts) {
    const h = index.get(name);
    for (const fact of ['cpu_model', 'architecture', 'cpu_cores'] as const) {
      if (h?.[fact]) continue;
      const s = await newestCarrying(db, name, at, [fact]);
      if (s) index.observe(s);
    }
  }
  return index;
}

/** The rules at T over the store (T default: the newest stored sample, else now). */
export async function evaluateStore(db: Db, licenses: readonly License[], opts: { at?: Date; activeWindowS: number; progress?: ReadProgress }): Promise<Evaluation> {
  const at = opts.at ?? (await newestSampleTime(db)) ?? new Date();
  const index = await loadFactsAt(db, at, opts.activeWindowS, opts.progress ? { progress: opts.progress } : {});
  return evaluate(licenses, index, { at, activeWindowS: opts.activeWindowS });
}

/** Cores used per licence at `points` instants over `spanS` before `at`, from one ordered scan of the store. */
export async function seriesFromStore(db: Db, licenses: readonly License[], opts: { at: Date; activeWindowS: number; spanS: number; points: number; progress?: ReadProgress }): Promise<CoresSeries> {
  const points = seriesPoints(opts.at, opts.spanS, opts.points);
  const builder = new CoresSeriesBuilder(licenses, points, opts.activeWindowS);
  const from = new Date(points[0]!.getTime() - opts.activeWindowS * 1000);
  let n = 0;
  for await (const doc of meter(db).find({ timestamp: { $gt: from, $lte: opts.at } }, { projection: PROJECTION }).sort({ timestamp: 1 })) {
    builder.add(doc as FactSample);
    if (++n % 50_000 === 0) opts.progress?.(n);
  }
  return builder.finish();
}
