import type { AnyBulkWriteOperation } from 'mongodb';
import type { ResourceDoc, ResourceMeterRef, PreparedSample } from './layout';

/**
 * Ceilometer's `resource` upsert (`record_metering_data_batch`), batched: the samples of a batch are
 * grouped by resource and each resource becomes two ordered updates in one bulkWrite instead of a
 * find_one_and_update round trip per sample.
 *
 * Per resource, with `newest` the group's latest sample, `first`/`last` its earliest/latest timestamps:
 *  1. upsert: `$setOnInsert` {project_id, user_id, source, metadata, last_sample_timestamp},
 *     `$min: {first_sample_timestamp: first}` (sets it on insert, only lowers it afterwards) and
 *     `$addToSet: {meter: {$each: meters}}`;
 *  2. where `last_sample_timestamp <= last`: `$set` metadata, last_sample_timestamp, project_id, user_id,
 *     source (the newest sample wins).
 * Ceilometer `$set` project/user/source unconditionally in step 1; here user and source follow the newest
 * sample like the metadata, so the document does not depend on arrival order and a redelivered old sample
 * cannot roll them back. Every step is idempotent, so retrying a batch leaves the same document.
 *
 * Ownership: both steps match `{_id, project_id}`, and project_id is never `$set`, so a sample can only
 * create or update a resource of its own project. For a resource owned by another project the upsert
 * finds no match and tries to insert a second document with the same `_id`: the duplicate-key error
 * (11000) tells the writer the samples are not this project's to write (see ownership.ts).
 */

export interface ResourceGroup {
  resourceId: string;
  newest: PreparedSample;
  first: Date;
  last: Date;
  meters: ResourceMeterRef[];
}

/**
 * Group prepared samples by resource (Ceilometer sorts by (resource_id, timestamp)) and project: samples
 * of two projects naming one resource are two groups, of which only the owner's can be written.
 */
export function groupByResource(samples: readonly PreparedSample[]): ResourceGroup[] {
  const groups = new Map<string, ResourceGroup>();
  for (const p of samples) {
    const s = p.sample;
    // (resource, project) without ambiguity: null and each project length-prefixed; no JSON per sample
    const key = s.project_id === null ? 'n' + s.resource_id : s.project_id.length + ':' + s.project_id + s.resource_id;
    let g = groups.get(key);
    if (!g) {
      g = { resourceId: s.resource_id, newest: p, first: s.timestamp, last: s.timestamp, meters: [] };
      groups.set(key, g);
    }
    const t = s.timestamp.getTime();
    if (t < g.first.getTime()) g.first = s.timestamp;
    // >= : among equal timestamps the later one in the batch wins, as in Ceilometer's stable sort
    if (t >= g.newest.sample.timestamp.getTime()) g.newest = p;
    if (t > g.last.getTime()) g.last = s.timestamp;
    // a resource has a handful of meters: a look through them beats a key string per sample
    let known = false;
    for (let i = 0; i < g.meters.length && !known; i++) {
      const m = g.meters[i]!;
      known = m.counter_name === s.counter_name && m.counter_type === s.counter_type && m.counter_unit === s.counter_unit;
    }
    if (!known) g.meters.push({ counter_name: s.counter_name, counter_type: s.counter_type, counter_unit: s.counter_unit });
  }
  return [...groups.values()].sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
}

/**
 * The ordered bulkWrite operations upserting every resource touched by the batch. For the resources in
 * `existing` (known to exist, with every meter of the batch already listed and first_sample_timestamp no
 * later than the batch's: see ResourceTracker) only step 2 is needed; its filter matching nothing is how
 * the caller learns the knowledge was stale (then it writes both steps).
 */
export function resourceOperations(samples: readonly PreparedSample[], existing?: ReadonlySet<string>): AnyBulkWriteOperation<ResourceDoc>[] {
  const ops: AnyBulkWriteOperation<ResourceDoc>[] = [];
  for (const g of groupByResource(samples)) {
    const n = g.newest.doc;
    const owner = { user_id: n.user_id, source: n.source };
    if (!existing?.has(g.resourceId)) ops.push({
      updateOne: {
        filter: { _id: g.resourceId, project_id: n.project_id },
        update: {
          $setOnInsert: { project_id: n.project_id, ...owner, metadata: n.resource_metadata, last_sample_timestamp: g.last },
          // on insert $min sets the field; afterwards it only ever lowers it
          $min: { first_sample_timestamp: g.first },
          $addToSet: { meter: { $each: g.meters } },
        },
        upsert: true,
      },
    });
    ops.push({
      updateOne: {
        filter: { _id: g.resourceId, project_id: n.project_id, last_sample_timestamp: { $lte: g.last } },
        update: { $set: { ...owner, metadata: n.resource_metadata, last_sample_timestamp: g.last } },
      },
    });
  }
  return ops;
}
