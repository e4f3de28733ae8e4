import { isUtf8 } from 'node:buffer';
import { itemText, parseTaggedJson, type TaggedValue } from '../ceilometer/json';
import type { ParsedSource } from '../ceilometer/normalize';

/**
 * Kafka message keys on the ingest topic: every record carries the resource_id of its samples, so
 * Kafka's partitioner puts one resource's stream on one partition, in order, whichever controller
 * appended it (with several controllers each consumer owns some partitions, and the profiler's window
 * of a VM must see all of its samples: docs/cluster.md). Pure.
 */

/** A record of the ingest log: its key (the resource_id; null when it names none) and value. */
export interface KeyedValue {
  key: string | null;
  value: Buffer;
}

const resourceOf = (item: TaggedValue): string | null => {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return null;
  const r = (item as Record<string, TaggedValue>).resource_id;
  return typeof r === 'string' ? r : null;
};

/**
 * Split an HTTP publisher body (a JSON list of samples, or one sample object) into one record per
 * resource: the items of one resource, as their original bytes (signatures and number literals are
 * kept) in their original order, as a JSON list. A body of one resource stays as it is. Items that
 * name no resource (the consumer dead-letters them, as before) go into a record with key null; a body
 * that is not JSON, or whose items cannot be located, is one record with key null. `read` is the body's
 * text and parse when the caller has them already (`parseHttpBody` with `keepSource`): not parsed again.
 */
export function splitBodyByResource(body: Buffer, read?: ParsedSource): KeyedValue[] {
  let source: string;
  let parsed;
  if (read) ({ text: source, parsed } = read);
  else {
    if (!isUtf8(body)) return [{ key: null, value: body }];
    const text = body.toString('utf8');
    source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    try {
      parsed = parseTaggedJson(source);
    } catch {
      return [{ key: null, value: body }];
    }
  }
  const value = parsed.value;
  if (!Array.isArray(value)) return [{ key: resourceOf(value), value: body }];
  const groups = new Map<string | null, string[]>();
  for (let i = 0; i < value.length; i++) {
    const t = itemText(parsed, source, value, i);
    if (t === undefined) return [{ key: null, value: body }];
    const k = resourceOf(value[i]!);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  if (groups.size <= 1) return [{ key: groups.keys().next().value ?? null, value: body }];
  return [...groups].map(([key, items]) => ({ key, value: Buffer.from(`[${items.join(',')}]`, 'utf8') }));
}

/** The key of a message whose samples are given: their resource_id when they share one, else null. */
export function keyOfSamples(samples: ReadonlyArray<{ resource_id: string }>): string | null {
  const first = samples[0]?.resource_id;
  return first !== undefined && samples.every((s) => s.resource_id === first) ? first : null;
}

/** Group samples by resource_id, keeping each resource's order (for producers that encode per message). */
export function groupByResource<T extends { resource_id: string }>(samples: readonly T[]): Array<[string, T[]]> {
  const groups = new Map<string, T[]>();
  for (const s of samples) {
    const g = groups.get(s.resource_id);
    if (g) g.push(s);
    else groups.set(s.resource_id, [s]);
  }
  return [...groups];
}
