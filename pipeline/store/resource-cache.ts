import type { PreparedSample } from './layout';

/**
 * Which `resource` upserts a batch still needs: a bounded, in-memory record of what this process has
 * durably written to each resource document, so that the usual sample — same resource, same meter, same
 * metadata, a few seconds or minutes after the previous one — costs no resource write at all.
 *
 * A resource's samples in a batch are *due* (all of them go to `resourceOperations`, so the group's
 * first/last/newest stay exact) when any one of them:
 *  - belongs to a resource not in the cache (first sight, or evicted);
 *  - adds a meter (name, type, unit) the document does not list yet;
 *  - is older than the recorded `first_sample_timestamp` (late data moves it back: always written);
 *  - is newer than the recorded `last_sample_timestamp` by more than `granularityMs`;
 *  - is not older than the recorded last sample and carries other metadata, project, user or source.
 * Otherwise the upserts would change nothing but `last_sample_timestamp`, by at most `granularityMs`:
 * that is the one visible difference from writing every sample (Ceilometer's rule), and it is bounded —
 * `last_sample_timestamp` lags the newest stored sample by at most the granularity. Granularity 0 writes
 * whenever the last timestamp moves at all.
 *
 * The record is updated only by {@link confirm}, after the resource write succeeded, so a failed write
 * is retried in full. It is a cache of this process's own writes: another controller writing the same
 * resource only causes extra (idempotent) writes here, never missing ones for newer data, because the
 * upserts are ordered by timestamp in the store. Entries are evicted least recently used beyond
 * `maxResources`; an evicted resource is simply written again on its next sample.
 */

interface Entry {
  /** The meters written: counter_name → [counter_type, counter_unit] pairs (no key string built per sample). */
  meters: Map<string, string[]>;
  first: number;
  /** `last_sample_timestamp` as written. */
  last: number;
  metadata: unknown;
  project_id: string | null;
  user_id: string | null;
  source: string;
}

export interface ResourceTrackerOptions {
  /** Most resources remembered (LRU). Default 100,000; 0 disables the cache (every sample is written). */
  maxResources?: number;
  /** Largest lag of `last_sample_timestamp` accepted to save a write, in ms. Default 600,000 (10 min). */
  granularityMs?: number;
}

/** Whether the entry lists the sample's meter (name, type, unit). */
function hasMeter(e: Entry, p: PreparedSample): boolean {
  const pairs = e.meters.get(p.sample.counter_name);
  if (pairs === undefined) return false;
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === p.sample.counter_type && pairs[i + 1] === p.sample.counter_unit) return true;
  return false;
}

function addMeter(e: Entry, p: PreparedSample): void {
  if (hasMeter(e, p)) return;
  const pairs = e.meters.get(p.sample.counter_name);
  if (pairs === undefined) e.meters.set(p.sample.counter_name, [p.sample.counter_type, p.sample.counter_unit]);
  else pairs.push(p.sample.counter_type, p.sample.counter_unit);
}

/** Deep equality of stored metadata values (plain JSON values and BSON number wrappers). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  const ta = (a as { _bsontype?: string })._bsontype;
  if (ta !== (b as { _bsontype?: string })._bsontype) return false;
  if (ta === 'Double' || ta === 'Int32') return Object.is((a as { value: number }).value, (b as { value: number }).value);
  if (ta !== undefined) return String(a) === String(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

export class ResourceTracker {
  readonly maxResources: number;
  readonly granularityMs: number;
  private readonly entries = new Map<string, Entry>();
  /** Resource upserts saved by the cache (samples whose resource needed no write). */
  skipped = 0;

  constructor(opts: ResourceTrackerOptions = {}) {
    this.maxResources = opts.maxResources ?? 100_000;
    this.granularityMs = opts.granularityMs ?? 600_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Forget everything (e.g. after the store was replaced or a resource write's outcome is unknown). */
  clear(): void {
    this.entries.clear();
  }

  private isDue(p: PreparedSample, e: Entry | undefined): boolean {
    if (!e) return true;
    // another project's sample is always checked against the owner (ownership.ts), late or not
    if (p.doc.project_id !== e.project_id) return true;
    const t = p.sample.timestamp.getTime();
    if (t < e.first) return true;
    if (!hasMeter(e, p)) return true;
    if (t >= e.last) {
      if (t - e.last > this.granularityMs) return true;
      const d = p.doc;
      if (d.user_id !== e.user_id || d.source !== e.source) return true;
      if (!sameValue(d.resource_metadata, e.metadata)) return true;
    }
    return false;
  }

  /**
   * Of the resources `due` returned for `batch`, those whose document exists with every meter of the
   * batch, an early enough first timestamp and the same project, user and source: only the
   * newest-sample update (step 2) is needed for them.
   */
  existing(due: readonly PreparedSample[]): Set<string> {
    const out = new Set<string>();
    const notOnly = new Set<string>();
    for (const p of due) {
      const id = p.sample.resource_id;
      if (notOnly.has(id)) continue;
      const e = this.entries.get(id);
      // an owner change always takes both steps (and whatever ownership rule guards them)
      if (!e || p.sample.timestamp.getTime() < e.first || !hasMeter(e, p) || p.doc.project_id !== e.project_id || p.doc.user_id !== e.user_id || p.doc.source !== e.source) {
        notOnly.add(id);
        out.delete(id);
      } else out.add(id);
    }
    return out;
  }

  /** The samples of `batch` whose resources need their upserts (every sample of such a resource). */
  due(batch: readonly PreparedSample[]): PreparedSample[] {
    if (this.maxResources <= 0) return batch as PreparedSample[];
    const dueResources = new Set<string>();
    for (const p of batch) {
      const id = p.sample.resource_id;
      if (dueResources.has(id)) continue;
      if (this.isDue(p, this.entries.get(id))) dueResources.add(id);
    }
    if (dueResources.size === 0) {
      this.skipped += batch.length;
      return [];
    }
    const out: PreparedSample[] = [];
    for (const p of batch) if (dueResources.has(p.sample.resource_id)) out.push(p);
    this.skipped += batch.length - out.length;
    return out;
  }

  /** Record the resource state that `written` (the due samples) has durably put into the store. */
  confirm(written: readonly PreparedSample[]): void {
    if (this.maxResources <= 0) return;
    for (const p of written) {
      const id = p.sample.resource_id;
      const t = p.sample.timestamp.getTime();
      let e = this.entries.get(id);
      if (e) this.entries.delete(id); // re-insert: most recently used last
      else e = { meters: new Map(), first: t, last: t, metadata: p.doc.resource_metadata, project_id: p.doc.project_id, user_id: p.doc.user_id, source: p.doc.source };
      addMeter(e, p);
      if (t < e.first) e.first = t;
      // >= : among equal timestamps the later one wins, as in resourceOperations
      if (t >= e.last) {
        e.last = t;
        e.metadata = p.doc.resource_metadata;
        e.project_id = p.doc.project_id;
        e.user_id = p.doc.user_id;
        e.source = p.doc.source;
      }
      this.entries.set(id, e);
    }
    while (this.entries.size > this.maxResources) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
