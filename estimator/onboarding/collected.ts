import { BSON, type Db, type Document } from 'mongodb';
import { COLLECTIONS } from '../../pipeline/store/layout';
import type { Collected } from './compare';

/**
 * What the metering store actually holds for a stack in a time window, read from the `meter`
 * collection. A stack's samples are selected by:
 * - `project`: `project_id` (every sample of every resource of the stack carries it; exact when the
 *   project runs only this stack — the key this product uses by default), or
 * - `stack`: `resource_metadata.user_metadata.stack` = the stack id, which Ceilometer copies from a
 *   server's `metering.stack` metadata (only servers' samples carry it: instance, vNIC and disk meters).
 * Bytes are the BSON sizes of the stored documents: `$bsonSize` in the server where it exists
 * (MongoDB ≥ 4.4), else the documents are read back and sized with BSON.calculateObjectSize.
 */

export type CollectedBy = 'project' | 'stack';

export interface CollectedQuery {
  project_id: string;
  stack_id?: string;
  by: CollectedBy;
  start: Date;
  end: Date;
}

export function collectedFilter(q: CollectedQuery): Document {
  const f: Document = { project_id: q.project_id, timestamp: { $gte: q.start, $lt: q.end } };
  if (q.by === 'stack') f['resource_metadata.user_metadata.stack'] = q.stack_id;
  return f;
}

export async function collectedIn(db: Db, q: CollectedQuery): Promise<Collected> {
  const meter = db.collection(COLLECTIONS.meter);
  const match = collectedFilter(q);
  const out: Collected = { events: 0, bytes: 0, per_meter: {}, bytes_method: '' };
  try {
    const groups = await meter
      .aggregate<{ _id: string; n: number; bytes: number }>([{ $match: match }, { $group: { _id: '$counter_name', n: { $sum: 1 }, bytes: { $sum: { $bsonSize: '$$ROOT' } } } }])
      .toArray();
    for (const g of groups) {
      out.per_meter[g._id] = g.n;
      out.events += g.n;
      out.bytes += g.bytes;
    }
    out.bytes_method = 'server-side $bsonSize of the stored documents';
    return out;
  } catch {
    // No $bsonSize (e.g. the mongo-java-server stand-in): read the documents back and size them here.
  }
  // promoteValues off: each number keeps its stored BSON type (int32/int64/double), so the size is exact
  for await (const doc of meter.find(match, { promoteValues: false })) {
    const name = String(doc.counter_name);
    out.per_meter[name] = (out.per_meter[name] ?? 0) + 1;
    out.events++;
    out.bytes += BSON.calculateObjectSize(doc);
  }
  out.bytes_method = 'BSON size of the stored documents read back (BSON.calculateObjectSize)';
  return out;
}
