import { MongoBulkWriteError, type Collection, type WriteConcernSettings } from 'mongodb';
import type { PreparedSample, ResourceDoc } from './layout';
import { groupByResource, resourceOperations } from './resource';
import { DUPLICATE_KEY, writeFailures } from './bulk-errors';

/**
 * Resource writes that respect ownership (tenant isolation): a resource belongs to the project that
 * created it, and samples of another project can neither take it over nor update it. The upserts of
 * resource.ts match `{_id, project_id}`; one that hits a resource of another project fails with a
 * duplicate key on `_id`, and the samples of that resource are refused with a reason that does not
 * name the owner. A duplicate key from two concurrent first upserts of the same project (an upsert
 * race) is told apart by reading the owner, and retried.
 *
 * Moving a resource to another project is an administrator's act, done on the store
 * (`db.resource.updateOne({_id}, {$set: {project_id: NEW}})`, see docs/ingestion.md): later samples
 * of the new project are then taken, the old project's are refused.
 */

/** Identity of a (resource, project) pair: what ownership is decided on. */
export const ownerKey = (resourceId: string, projectId: string | null | undefined): string => JSON.stringify([resourceId, projectId ?? null]);

export const NOT_YOUR_RESOURCE = 'resource_id: this resource belongs to another project; a sample can only create or update resources of its own project_id';

function failedIndexes(err: MongoBulkWriteError): { dup: number[]; other: number } {
  const list = writeFailures(err);
  const dup: number[] = [];
  let other = 0;
  for (const e of list) (e.code === DUPLICATE_KEY ? dup.push(e.index) : other++);
  return { dup, other };
}

/**
 * Upsert the batch's resources; returns the (resource, project) pairs (`ownerKey`) whose resource is
 * owned by another project (their samples must not be stored). Throws on any other failure (the caller retries the batch).
 */
export async function writeOwnedResources(coll: Collection<ResourceDoc>, batch: readonly PreparedSample[], writeConcern: WriteConcernSettings): Promise<Set<string>> {
  const groups = groupByResource(batch);
  const ops = resourceOperations(batch);
  if (!ops.length) return new Set();
  // ops come in pairs per group, [upsert, refresh]. One unordered bulkWrite (one round trip): the two of a
  // group commute (they touch different fields, and on insert $setOnInsert writes what the refresh would),
  // and a refresh of a resource owned by another project matches nothing (its filter has project_id).
  const conflicted = new Set<string>();
  let pending = groups.map((_, i) => i);
  for (let round = 0; round < 2 && pending.length; round++) {
    try {
      await coll.bulkWrite(pending.flatMap((i) => [ops[2 * i]!, ops[2 * i + 1]!]), { ordered: false, writeConcern });
      pending = [];
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw err;
      const { dup, other } = failedIndexes(err);
      if (other || !dup.length || err.result?.getWriteConcernError?.()) throw err;
      const failed = [...new Set(dup.map((k) => pending[Math.floor(k / 2)]!))];
      const ids = failed.map((i) => groups[i]!.resourceId);
      const owners = new Map((await coll.find({ _id: { $in: ids } }, { projection: { project_id: 1 } }).toArray()).map((d) => [d._id, d.project_id ?? null]));
      pending = [];
      for (const i of failed) {
        const g = groups[i]!;
        if (owners.has(g.resourceId) && owners.get(g.resourceId) !== (g.newest.doc.project_id ?? null)) conflicted.add(ownerKey(g.resourceId, g.newest.doc.project_id));
        else pending.push(i); // an upsert race of the same project: the document exists now, run the pair again
      }
      if (round === 1 && pending.length) throw err;
    }
  }
  return conflicted;
}
