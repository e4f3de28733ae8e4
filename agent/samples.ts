/**
 * Window summaries as Ceilometer samples (pure). One sample per metric per window: volume is the
 * window's average for a gauge and its last reading for a cumulative counter (so the store keeps
 * Ceilometer's meaning of each type), timestamp is the window's end, resource_metadata carries the
 * resource's metadata (host facts on the host's own samples) and `window` with the statistics.
 * message_id is derived from host, meter, resource and window start, so a window sent twice (a
 * retried spool batch, a recomputation after a crash) is stored once.
 */
import { createHash } from 'node:crypto';
import type { Sample } from '../pipeline/sample';
import { splitMetricKey, type MetricDef, type ResourceInfo } from './metrics';
import type { WindowSummary } from './window';

export interface WindowMetadata {
  start: string;
  end: string;
  count: number;
  min: number;
  max: number;
  avg: number;
  last: number;
}

/** A uuid-shaped id from a hash of the parts. */
export function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export function windowSample(w: WindowSummary, def: MetricDef, resource: ResourceInfo | undefined, host: string, source: string): Sample {
  const { resource_id } = splitMetricKey(w.key);
  const window: WindowMetadata = { start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString(), count: w.count, min: w.min, max: w.max, avg: w.avg, last: w.last };
  return {
    counter_name: def.name,
    counter_type: def.type,
    counter_unit: def.unit,
    counter_volume: def.type === 'gauge' ? w.avg : w.last,
    user_id: resource?.user_id ?? null,
    project_id: resource?.project_id ?? null,
    resource_id,
    timestamp: new Date(w.end),
    resource_metadata: { ...(resource?.metadata ?? { host }), window },
    source,
    message_id: stableId(host, def.name, resource_id, String(w.start)),
    message_signature: '',
  };
}
