import { ObjectId, type Collection, type Db, type Filter } from 'mongodb';
import type { Estimate, MeterEstimate, PeriodFigures } from '../estimate';

/**
 * The `predictions` collection: one document per onboarded stack, what the estimator predicted and
 * with which inputs and size model, so capacity planners can list, fetch and later compare it with
 * what was actually collected. Field names that come from templates (resource types such as
 * `vm_with_cinder.yaml`, parameter names) are stored as arrays, never as document keys, so no
 * `.`/`$` key ever reaches the store.
 */
export const PREDICTIONS_COLLECTION = 'predictions';

/** The estimate as `metering estimate --json` prints it. */
export type EstimateJson = Omit<Estimate, 'plan'>;

export interface SizeModelRecord {
  /** per-meter | mean-of-meters | dbstats */
  method: string;
  /** Meters whose size came from the observed last-3 mean (the ingestion hook's SizeTracker). */
  observed_meters: number;
  /** Meters sized from a configured override, a measured prior or the fallback. */
  other_meters: number;
  /** Meter → `size_source` as in the estimate (observed, prior, override, fallback). */
  sources: Record<string, number>;
}

export interface PredictionRecord {
  prediction_id: string;
  stack_id: string;
  stack_name: string;
  project_id: string;
  created_at: Date;
  /** When the stack starts producing samples (scaler signal). */
  arrives_at: Date;
  template_hash: string;
  /** Names of the nested files given with the request. */
  files: string[];
  parameters: Record<string, unknown>;
  estimate: EstimateJson;
  size_model: SizeModelRecord;
  recommendation: unknown;
  warnings: string[];
  /** Who onboarded the stack (token name). */
  created_by: string;
}

interface StoredEstimate extends Omit<EstimateJson, 'resources' | 'upper_bound'> {
  resources: Array<{ type: string; count: number }>;
  upper_bound?: { resources: Array<{ type: string; count: number }>; events: PeriodFigures & { per_interval: number }; bytes: PeriodFigures };
}

interface PredictionDoc extends Omit<PredictionRecord, 'prediction_id' | 'parameters' | 'estimate'> {
  _id: ObjectId;
  parameters: Array<{ name: string; value: unknown }>;
  estimate: StoredEstimate;
}

const toPairs = (r: Record<string, number>) => Object.entries(r).map(([type, count]) => ({ type, count }));
const fromPairs = (a: Array<{ type: string; count: number }>) => Object.fromEntries(a.map((p) => [p.type, p.count]));

function encodeEstimate(e: EstimateJson): StoredEstimate {
  const { resources, upper_bound, ...rest } = e;
  return { ...rest, resources: toPairs(resources), ...(upper_bound ? { upper_bound: { ...upper_bound, resources: toPairs(upper_bound.resources) } } : {}) };
}

function decodeEstimate(s: StoredEstimate): EstimateJson {
  const { resources, upper_bound, ...rest } = s;
  return { ...rest, resources: fromPairs(resources), ...(upper_bound ? { upper_bound: { ...upper_bound, resources: fromPairs(upper_bound.resources) } } : {}) };
}

function fromDoc(d: PredictionDoc): PredictionRecord {
  const { _id, parameters, estimate, ...rest } = d;
  return { prediction_id: _id.toHexString(), ...rest, parameters: Object.fromEntries(parameters.map((p) => [p.name, p.value])), estimate: decodeEstimate(estimate) };
}

/** Which sources sized the estimate's meters. */
export function sizeModelRecord(e: EstimateJson): SizeModelRecord {
  const sources: Record<string, number> = {};
  for (const m of e.meters) sources[m.size_source] = (sources[m.size_source] ?? 0) + 1;
  const observed = e.meters.filter((m: MeterEstimate) => m.size_source === 'observed').length;
  return { method: e.size_method, observed_meters: observed, other_meters: e.meters.length - observed, sources };
}

export interface ListQuery {
  stack_id?: string;
  project_id?: string;
  limit: number;
  offset: number;
}

export class PredictionStore {
  private readonly coll: Collection<PredictionDoc>;
  /** Listing (planners' queries) may read a secondary: `tolerantDb` of store.reads; `get` stays on the primary (read-your-writes after the Heat hook). */
  private readonly listColl: Collection<PredictionDoc>;
  private indexed: Promise<unknown> | undefined;

  constructor(readonly db: Db, listDb: Db = db) {
    this.coll = db.collection<PredictionDoc>(PREDICTIONS_COLLECTION);
    this.listColl = listDb.collection<PredictionDoc>(PREDICTIONS_COLLECTION);
  }

  /** Indexes for the planner queries (project/stack, newest first). Idempotent. */
  ensureIndexes(): Promise<unknown> {
    this.indexed ??= this.coll.createIndexes([
      { key: { project_id: 1, created_at: -1 }, name: 'project_created' },
      { key: { stack_id: 1, created_at: -1 }, name: 'stack_created' },
    ]);
    return this.indexed;
  }

  async insert(p: Omit<PredictionRecord, 'prediction_id'>): Promise<PredictionRecord> {
    const _id = new ObjectId();
    const { parameters, estimate, ...rest } = p;
    const doc: PredictionDoc = { _id, ...rest, parameters: Object.entries(parameters).map(([name, value]) => ({ name, value })), estimate: encodeEstimate(estimate) };
    await this.coll.insertOne(doc);
    return { prediction_id: _id.toHexString(), ...p };
  }

  async get(id: string): Promise<PredictionRecord | undefined> {
    if (!ObjectId.isValid(id) || !/^[0-9a-f]{24}$/i.test(id)) return undefined;
    const d = await this.coll.findOne({ _id: new ObjectId(id) });
    return d ? fromDoc(d) : undefined;
  }

  /** Newest first (created_at, then id); `total` counts every match. */
  async list(q: ListQuery): Promise<{ total: number; items: PredictionRecord[] }> {
    const filter: Filter<PredictionDoc> = {};
    if (q.stack_id !== undefined) filter.stack_id = q.stack_id;
    if (q.project_id !== undefined) filter.project_id = q.project_id;
    const [total, docs] = await Promise.all([
      this.listColl.countDocuments(filter),
      this.listColl.find(filter).sort({ created_at: -1, _id: -1 }).skip(q.offset).limit(q.limit).toArray(),
    ]);
    return { total, items: docs.map(fromDoc) };
  }

}
