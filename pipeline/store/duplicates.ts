import type { Collection } from 'mongodb';
import type { MeterDoc, PreparedSample } from './layout';
import { SAMPLE_FIELDS } from '../sample';

/**
 * Telling a redelivery from a conflict (tenant isolation of message ids). A duplicate key on the
 * unique message-id index used to count as "already stored" without looking: a project that took an
 * id first made another project's genuine sample vanish, and a second sample reusing an id with a
 * different volume was dropped without a word. Now the stored document is compared with the new one
 * on everything Ceilometer stores except `_id` and `recorded_at` (its content digest): equal → a
 * duplicate (redelivery), different → a conflict, refused and dead-lettered with the reason.
 */

/** What a redelivery repeats exactly: every sample field (not `_id`, not `recorded_at`). */
const CONTENT_FIELDS = SAMPLE_FIELDS;

/** Canonical text of a value: object keys sorted, dates as instants, numbers as numbers (int/double alike). */
function canonical(v: unknown): string {
  if (v instanceof Date) return `D${v.getTime()}`;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Object.is(v, -0) ? '0' : String(v);
  if (typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof (o as { toHexString?: unknown }).toHexString === 'function') return `O${String(o)}`;
    // BSON number wrappers of the prepared document (ceilometer/bson-numbers.ts) read back as plain numbers, or as Long beyond 2^53
    const bsonType = (o as { _bsontype?: unknown })._bsontype;
    if (bsonType === 'Double' || bsonType === 'Int32') return canonical((o as unknown as { value: number }).value);
    if (bsonType === 'Long' || bsonType === 'Decimal128') return String(o);
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The content digest text of a meter document (what a redelivery repeats exactly). */
export function meterContent(doc: Partial<MeterDoc>): string {
  return CONTENT_FIELDS.map((f) => canonical(doc[f])).join('|');
}

export const CONFLICT_REASON =
  'message_id: already stored with different content (another resource, time, volume or metadata); a message id names one sample of a project, this one was not stored';

/**
 * Split samples that hit the unique message-id index into true duplicates (same content stored) and
 * conflicts. Reads the stored documents of those ids in one query.
 */
export async function classifyDuplicates(meter: Collection<MeterDoc>, hits: readonly PreparedSample[]): Promise<{ duplicates: PreparedSample[]; conflicts: PreparedSample[] }> {
  if (!hits.length) return { duplicates: [], conflicts: [] };
  const ids = [...new Set(hits.map((p) => p.sample.message_id))];
  const projects = [...new Set(hits.map((p) => p.sample.project_id ?? null))];
  const resources = [...new Set(hits.map((p) => p.sample.resource_id))];
  // project and resource narrow the read to the unique index (unsharded {project_id, message_id};
  // sharded {resource_id, …, message_id}): a stored sample that differs in either is a conflict anyway
  const storedById = new Map<string, Set<string>>();
  const filter = { message_id: { $in: ids }, project_id: { $in: projects }, resource_id: { $in: resources } };
  for (const d of await meter.find(filter, { projection: { _id: 0, recorded_at: 0 } }).toArray()) {
    const set = storedById.get(d.message_id) ?? new Set<string>();
    set.add(meterContent(d));
    storedById.set(d.message_id, set);
  }
  const duplicates: PreparedSample[] = [];
  const conflicts: PreparedSample[] = [];
  for (const p of hits) (storedById.get(p.sample.message_id)?.has(meterContent(p.doc)) ? duplicates : conflicts).push(p);
  return { duplicates, conflicts };
}
