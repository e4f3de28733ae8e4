import type { Document } from 'mongodb';
import type { MediationOptions } from './options';

/** The fields `$merge` matches mediated usage on (checked against `usage`'s shard key by `assertMergeTarget`). */
export const MERGE_ON = ['_id'] as const;

/**
 * The mediation aggregation pipeline over Ceilometer's `meter` collection, for real MongoDB 7/8.
 * Same semantics as reference.ts. Stages and where a sharded cluster runs them:
 *
 * 1. `$match` on timestamp (± carry), meters, projects — on every shard, using the
 *    `{resource_id, …, counter_name, timestamp}` / `{timestamp}` indexes.
 * 2. `$setWindowFields` partitioned by (resource_id, counter_name), sorted by (timestamp,
 *    message_id): `$shift` gives each sample its predecessor's value/time and its successor's time.
 *    Shards sort their part; the merging shard streams the merged order through the window.
 * 3. `$set` per sample: the gauge hold end, the reset-aware cumulative increase, the periods
 *    (`$dateTrunc`/`$dateDiff`/`$dateAdd` in the time zone) a gauge value carries into.
 * 4. `$unwind` one piece per period touched; `$match` pieces inside [from, to).
 * 5. `$group` per (period, resource, meter, project, user): count/sum/min/max/first/last over the
 *    samples of the period, Σ volume × overlap for gauges, Σ increase for counters.
 * 6. `$merge` into `usage` on the deterministic `_id`, `whenMatched: replace`: a re-run of a
 *    period replaces its documents, and nothing but the command reply travels to the client.
 */
export function buildMediationPipeline(o: MediationOptions): Document[] {
  const carryMs = o.carrySeconds * 1000;
  const unit = o.granularity;
  const timezone = o.timezone;
  const match: Document = {
    timestamp: { $gte: new Date(o.from.getTime() - carryMs), $lt: new Date(o.to.getTime() + carryMs) },
  };
  if (o.meters) match.counter_name = { $in: o.meters };
  if (o.projects) match.project_id = { $in: o.projects };
  const isGauge = { $eq: ['$counter_type', 'gauge'] };
  const isCumulative = { $eq: ['$counter_type', 'cumulative'] };
  const own = '$_own';
  // exact decimal of a sample value, as reference.ts exactValue: integral doubles exactly, others at 15 digits
  const exact = (x: string) => ({ $cond: [{ $eq: [x, { $trunc: [x, 0] }] }, { $toDecimal: { $toLong: x } }, { $toDecimal: x }] });
  const ex = o.exact === true;
  const run = o.run;
  return [
    { $match: match },
    {
      $setWindowFields: {
        partitionBy: { r: '$resource_id', m: '$counter_name' },
        sortBy: { timestamp: 1, message_id: 1 },
        output: {
          _prev_v: { $shift: { output: '$counter_volume', by: -1 } },
          _prev_t: { $shift: { output: '$timestamp', by: -1 } },
          _next_t: { $shift: { output: '$timestamp', by: 1 } },
        },
      },
    },
    {
      $set: {
        // expression $min ignores null: no successor → hold for carry
        _hold_end: { $min: ['$_next_t', { $add: ['$timestamp', carryMs] }] },
        _own_start: { $dateTrunc: { date: '$timestamp', unit, timezone } },
        _has_prev: {
          $and: [isCumulative, { $ne: [{ $ifNull: ['$_prev_t', null] }, null] }, { $lte: [{ $subtract: ['$timestamp', '$_prev_t'] }, carryMs] }],
        },
      },
    },
    {
      $set: {
        _delta: {
          $cond: ['$_has_prev', { $cond: [{ $gte: ['$counter_volume', '$_prev_v'] }, { $subtract: ['$counter_volume', '$_prev_v'] }, '$counter_volume'] }, 0],
        },
        _reset: { $cond: [{ $and: ['$_has_prev', { $lt: ['$counter_volume', '$_prev_v'] }] }, 1, 0] },
        ...(ex
          ? { _ex_delta: { $cond: ['$_has_prev', { $cond: [{ $gte: ['$counter_volume', '$_prev_v'] }, { $subtract: [exact('$counter_volume'), exact('$_prev_v')] }, exact('$counter_volume')] }, { $toDecimal: 0 }] } }
          : {}),
        _k: {
          $range: [
            0,
            {
              $add: [
                1,
                {
                  $cond: [
                    { $and: [isGauge, { $gt: ['$_hold_end', '$timestamp'] }] },
                    { $dateDiff: { startDate: '$timestamp', endDate: { $subtract: ['$_hold_end', 1] }, unit, timezone } },
                    0,
                  ],
                },
              ],
            },
          ],
        },
      },
    },
    { $unwind: '$_k' },
    { $set: { _pstart: { $dateAdd: { startDate: '$_own_start', unit, amount: '$_k', timezone } }, _own: { $eq: ['$_k', 0] } } },
    { $match: { _pstart: { $gte: o.from, $lt: o.to } } },
    { $set: { _pend: { $dateAdd: { startDate: '$_pstart', unit, amount: 1, timezone } } } },
    {
      $set: {
        _tw: {
          $cond: [
            isGauge,
            { $multiply: ['$counter_volume', { $max: [0, { $subtract: [{ $toLong: { $min: ['$_hold_end', '$_pend'] } }, { $toLong: { $max: ['$timestamp', '$_pstart'] } }] }] }] },
            0,
          ],
        },
      },
    },
    ...(ex
      ? [{ $set: { _ex_tw: { $cond: [isGauge, { $multiply: [exact('$counter_volume'), { $max: [0, { $subtract: [{ $toLong: { $min: ['$_hold_end', '$_pend'] } }, { $toLong: { $max: ['$timestamp', '$_pstart'] } }] }] }] }, { $toDecimal: 0 }] } } }]
      : []),
    {
      $group: {
        _id: { g: unit, tz: timezone, start: '$_pstart', r: '$resource_id', m: '$counter_name', p: '$project_id', u: '$user_id', ...(run !== undefined ? { run: { $literal: run } } : {}) },
        period_end: { $first: '$_pend' },
        unit: { $max: '$counter_unit' },
        counter_type: { $max: '$counter_type' },
        count: { $sum: { $cond: [own, 1, 0] } },
        sum: { $sum: { $cond: [own, '$counter_volume', 0] } },
        min: { $min: { $cond: [own, '$counter_volume', null] } },
        max: { $max: { $cond: [own, '$counter_volume', null] } },
        first_timestamp: { $min: { $cond: [own, '$timestamp', null] } },
        last_timestamp: { $max: { $cond: [own, '$timestamp', null] } },
        tw_ms: { $sum: '$_tw' },
        delta: { $sum: { $cond: [own, '$_delta', 0] } },
        resets: { $sum: { $cond: [own, '$_reset', 0] } },
        ...(ex
          ? {
              ex_sum: { $sum: { $cond: [own, exact('$counter_volume'), { $toDecimal: 0 }] } },
              ex_delta: { $sum: { $cond: [own, '$_ex_delta', { $toDecimal: 0 }] } },
              ex_tw: { $sum: '$_ex_tw' },
            }
          : {}),
      },
    },
    {
      $project: {
        _id: 1,
        granularity: '$_id.g',
        timezone: '$_id.tz',
        period_start: '$_id.start',
        period_end: 1,
        resource_id: '$_id.r',
        project_id: { $ifNull: ['$_id.p', null] },
        user_id: { $ifNull: ['$_id.u', null] },
        meter: '$_id.m',
        unit: 1,
        counter_type: 1,
        count: 1,
        sum: 1,
        avg: { $cond: [{ $gt: ['$count', 0] }, { $divide: ['$sum', '$count'] }, null] },
        min: 1,
        max: 1,
        first_timestamp: 1,
        last_timestamp: 1,
        duration: { $cond: [{ $gt: ['$count', 0] }, { $divide: [{ $subtract: ['$last_timestamp', '$first_timestamp'] }, 1000] }, null] },
        time_weighted: { $cond: [{ $eq: ['$counter_type', 'gauge'] }, { $divide: ['$tw_ms', 3_600_000] }, null] },
        delta: { $cond: [{ $eq: ['$counter_type', 'cumulative'] }, '$delta', null] },
        resets: 1,
        mediated_at: '$$NOW',
        ...(run !== undefined ? { run: '$_id.run' } : {}),
        ...(ex
          ? {
              exact: {
                sum: '$ex_sum',
                delta: { $cond: [{ $eq: ['$counter_type', 'cumulative'] }, '$ex_delta', null] },
                time_weighted: { $cond: [{ $eq: ['$counter_type', 'gauge'] }, { $divide: ['$ex_tw', 3_600_000] }, null] },
              },
            }
          : {}),
      },
    },
    { $merge: { into: o.into, on: [...MERGE_ON], whenMatched: 'replace', whenNotMatched: 'insert' } },
  ];
}
