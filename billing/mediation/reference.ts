import type { Sample } from '../../pipeline/sample';
import type { MediationOptions } from './options';
import { Dec } from '../rating/money';
import { addPeriods, periodStart } from './periods';
import { usageKey, type UsageDoc } from './usage-doc';

/** The fields mediation reads from a stored `meter` document. */
export type MediationSample = Pick<Sample, 'counter_name' | 'counter_type' | 'counter_unit' | 'counter_volume' | 'user_id' | 'project_id' | 'resource_id' | 'timestamp' | 'message_id'>;

interface Acc {
  doc: UsageDoc;
  twMs: number; // Σ volume × ms
  deltaSum: number;
  exSum: Dec;
  exDelta: Dec;
  exTwMs: Dec;
}

/**
 * A sample value as an exact decimal, the way MongoDB's $toDecimal sees it in the pipeline: an
 * integral double exactly (byte counters above 1e12 keep every unit), any other value at 15
 * significant digits (what a JSON number with ≤ 15 digits was written as).
 */
export function exactValue(v: number): Dec {
  return Number.isInteger(v) ? new Dec(BigInt(v).toString()) : new Dec(v.toPrecision(15));
}

/**
 * Mediation computed in Node over an array of samples: the reference the aggregation pipeline is
 * checked against, and the benchmark's "read everything into Node" baseline. Same semantics as
 * pipeline.ts (see docs/rating.md):
 * - a sample belongs to the period its timestamp falls in (`$dateTrunc` in the time zone);
 * - series = (resource_id, counter_name), ordered by (timestamp, message_id);
 * - gauge value i holds over [t_i, min(t_{i+1}, t_i + carry)), split across the periods it spans;
 * - cumulative increase of sample i = v_i − v_{i−1}, or v_i when v_i < v_{i−1} (reset: the counter
 *   restarted from zero), or 0 when there is no previous sample within `carry`; attributed to the
 *   period of t_i, so consecutive periods add up without double counting.
 */
export function mediateSamples(samples: readonly MediationSample[], o: MediationOptions, now = new Date()): UsageDoc[] {
  const carryMs = o.carrySeconds * 1000;
  const lo = o.from.getTime() - carryMs;
  const hi = o.to.getTime() + carryMs;
  const meters = o.meters ? new Set(o.meters) : undefined;
  const projects = o.projects ? new Set(o.projects) : undefined;
  const series = new Map<string, MediationSample[]>();
  for (const s of samples) {
    const t = s.timestamp.getTime();
    if (t < lo || t >= hi) continue;
    if (meters && !meters.has(s.counter_name)) continue;
    if (projects && !projects.has(s.project_id as string)) continue;
    const k = JSON.stringify([s.resource_id, s.counter_name]);
    let list = series.get(k);
    if (!list) series.set(k, (list = []));
    list.push(s);
  }
  const accs = new Map<string, Acc>();
  const trunc = (ms: number) => periodStart(new Date(ms), o.granularity, o.timezone);
  const next = (d: Date) => addPeriods(d, o.granularity, 1, o.timezone);

  for (const list of series.values()) {
    list.sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime() || (a.message_id < b.message_id ? -1 : a.message_id > b.message_id ? 1 : 0));
    list.forEach((s, i) => {
      const t = s.timestamp.getTime();
      const prev = list[i - 1];
      const nxt = list[i + 1];
      const holdEnd = Math.min(nxt ? nxt.timestamp.getTime() : Infinity, t + carryMs);
      let delta = 0;
      let exDelta = new Dec(0);
      let reset = 0;
      if (s.counter_type === 'cumulative' && prev && t - prev.timestamp.getTime() <= carryMs) {
        if (s.counter_volume >= prev.counter_volume) {
          delta = s.counter_volume - prev.counter_volume;
          exDelta = exactValue(s.counter_volume).minus(exactValue(prev.counter_volume));
        } else {
          delta = s.counter_volume;
          exDelta = exactValue(s.counter_volume);
          reset = 1;
        }
      }
      const gauge = s.counter_type === 'gauge';
      // the sample's own period (k = 0), then the following ones its gauge value carries into
      for (let p = trunc(t), k = 0; k === 0 || (gauge && p.getTime() < holdEnd); p = next(p), k++) {
        if (p < o.from || p >= o.to) {
          if (p >= o.to) break;
          continue;
        }
        const pend = next(p);
        const key = usageKey(o.granularity, o.timezone, p, s.resource_id, s.counter_name, s.project_id, s.user_id, o.run);
        const id = JSON.stringify(key);
        let acc = accs.get(id);
        if (!acc) {
          acc = {
            twMs: 0, deltaSum: 0, exSum: new Dec(0), exDelta: new Dec(0), exTwMs: new Dec(0),
            doc: {
              _id: key, granularity: o.granularity, timezone: o.timezone, period_start: p, period_end: pend,
              resource_id: s.resource_id, project_id: s.project_id, user_id: s.user_id, meter: s.counter_name,
              unit: s.counter_unit, counter_type: s.counter_type, count: 0, sum: 0, avg: null, min: null, max: null,
              first_timestamp: null, last_timestamp: null, duration: null, time_weighted: null, delta: null, resets: 0, mediated_at: now, ...(o.run !== undefined ? { run: o.run } : {}),
            },
          };
          accs.set(id, acc);
        }
        const d = acc.doc;
        if (s.counter_unit > d.unit) d.unit = s.counter_unit; // $max, as the pipeline does
        if (s.counter_type > d.counter_type) d.counter_type = s.counter_type;
        if (gauge) {
          const overlap = Math.max(0, Math.min(holdEnd, pend.getTime()) - Math.max(t, p.getTime()));
          acc.twMs += s.counter_volume * overlap;
          acc.exTwMs = acc.exTwMs.plus(exactValue(s.counter_volume).times(overlap));
        }
        if (k === 0) {
          d.count++;
          d.sum += s.counter_volume;
          d.min = d.min === null ? s.counter_volume : Math.min(d.min, s.counter_volume);
          d.max = d.max === null ? s.counter_volume : Math.max(d.max, s.counter_volume);
          if (!d.first_timestamp || s.timestamp < d.first_timestamp) d.first_timestamp = s.timestamp;
          if (!d.last_timestamp || s.timestamp > d.last_timestamp) d.last_timestamp = s.timestamp;
          acc.deltaSum += delta;
          acc.exSum = acc.exSum.plus(exactValue(s.counter_volume));
          acc.exDelta = acc.exDelta.plus(exDelta);
          d.resets += reset;
        }
      }
    });
  }
  const out: UsageDoc[] = [];
  for (const { doc, twMs, deltaSum, exSum, exDelta, exTwMs } of accs.values()) {
    doc.avg = doc.count > 0 ? doc.sum / doc.count : null;
    doc.duration = doc.first_timestamp && doc.last_timestamp ? (doc.last_timestamp.getTime() - doc.first_timestamp.getTime()) / 1000 : null;
    doc.time_weighted = doc.counter_type === 'gauge' ? twMs / 3_600_000 : null;
    doc.delta = doc.counter_type === 'cumulative' ? deltaSum : null;
    if (o.exact) {
      doc.exact = {
        sum: exSum.toString(),
        delta: doc.counter_type === 'cumulative' ? exDelta.toString() : null,
        time_weighted: doc.counter_type === 'gauge' ? exTwMs.div(3_600_000).toString() : null,
      };
    }
    out.push(doc);
  }
  return out.sort(compareUsage);
}

/** Stable order for comparing results: period, resource, meter, project, user. */
export function compareUsage(a: UsageDoc, b: UsageDoc): number {
  const ka = [a.period_start.getTime(), a.resource_id, a.meter, a.project_id ?? '', a.user_id ?? ''];
  const kb = [b.period_start.getTime(), b.resource_id, b.meter, b.project_id ?? '', b.user_id ?? ''];
  for (let i = 0; i < ka.length; i++) if (ka[i]! < kb[i]!) return -1; else if (ka[i]! > kb[i]!) return 1;
  return 0;
}
