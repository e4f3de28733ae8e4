/**
 * Interned `resource_metadata`: one shared, frozen object per distinct metadata text.
 *
 * Every sample of a resource carries the same metadata as the samples before it (Ceilometer copies the
 * instance's metadata into each of its meters' samples, poll after poll), and that metadata is most of
 * a sample's bytes. The tagged JSON reader (json.ts, with `intern: true`) looks each sample's metadata
 * text up here before parsing it: when the very same text was read before, the engine does not parse it
 * again (the reader hands it `null` in its place) and the sample gets the object read the first time.
 * What is worked out from a metadata object once — its signature text, whether it holds typed numbers,
 * whether the store can hold it as it is, its BSON size — is kept with it here ({@link InternedFacts})
 * and reused by every later sample that shares it.
 *
 * Sharing is safe because an interned object is deeply frozen: nobody can change it under the facts
 * worked out from it (a write to it throws in strict code). Equal text means an equal value, so a sample
 * gets exactly the value it would have got from its own parse.
 *
 * Bounds: metadata texts of at least {@link MIN_INTERN_CHARS} characters, at most
 * {@link MAX_INTERNED_CHARS} characters of text in all (eviction: oldest first, with a second chance for
 * the ones read since the last eviction), at most {@link MAX_PER_PREFIX} texts sharing their first
 * {@link PREFIX_CHARS} characters.
 */

/** What the hot path worked out from an interned metadata object, kept for the next sample sharing it. */
export interface InternedFacts {
  /** The object's Ceilometer signature text (recursive_keypairs run together), by list form + prefix. */
  signed?: Map<string, string>;
  /** Whether the tree holds a PyFloat or bigint (its stored form differs from the plain one). */
  tagged?: boolean;
  /** Storability walk: no key needs escaping or holds NUL/lone surrogates, no string a lone surrogate; deepest level. */
  storable?: { simple: boolean; maxLevel: number };
  /** BSON size as stored without a rewrite, or -1 when it must be rewritten (escaped keys, integers beyond int32). */
  asIsSize?: number;
}

export interface InternEntry {
  /** The metadata text (its own copy, so it does not keep the body it came from alive). */
  readonly text: string;
  /** No literal in it needs a typed form (no integral float, big int, NaN/Infinity): the engine reads it as is. */
  readonly plain: boolean;
  /** Most containers open at once inside it, itself included (for the reader's depth limit). */
  readonly innerDepth: number;
  /** The shared, frozen object; undefined until a parse of the text succeeded. */
  obj?: Readonly<Record<string, unknown>>;
  /** Read again since the last eviction pass. */
  hit: boolean;
}

export const PREFIX_CHARS = 48;
export const MIN_INTERN_CHARS = PREFIX_CHARS;
export const MAX_PER_PREFIX = 8;
export const MAX_INTERNED_CHARS = 8 * 1024 * 1024;

const byPrefix = new Map<string, InternEntry[]>();
const facts = new WeakMap<object, InternedFacts>();
let totalChars = 0;
let lastFound: InternEntry | undefined;

/** The facts of an interned object, or undefined for any other object (whose facts cannot be kept: it may change). */
export function internedFacts(o: object): InternedFacts | undefined {
  return facts.get(o);
}

/** The entry whose text starts at `at` in `text` (the caller checks that a complete value ends there), or undefined. */
export function findInterned(text: string, at: number): InternEntry | undefined {
  // samples of one resource tend to come together: the entry found last is tried first
  const last = lastFound;
  if (last !== undefined && text.slice(at, at + last.text.length) === last.text) {
    last.hit = true;
    return last;
  }
  const list = byPrefix.get(text.slice(at, at + PREFIX_CHARS));
  if (list === undefined) return undefined;
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    // (a slice compared with === is a memory compare; startsWith goes character by character, 20 times slower)
    if (text.slice(at, at + e.text.length) === e.text) {
      e.hit = true;
      lastFound = e;
      return e;
    }
  }
  return undefined;
}

/** Remember the metadata text `text[start, end)` (not yet known); returns its entry, or undefined when too short to keep. */
export function addInterned(text: string, start: number, end: number, plain: boolean, innerDepth: number): InternEntry | undefined {
  if (end - start < MIN_INTERN_CHARS || end - start > MAX_INTERNED_CHARS / 16) return undefined;
  // a copy: a slice would keep the whole body alive as long as the entry lives. A lone surrogate does not
  // survive UTF-8 (it comes back as U+FFFD): such a text is not interned, its copy would be another text
  const slice = text.slice(start, end);
  const own = Buffer.from(slice, 'utf8').toString('utf8');
  if (own !== slice) return undefined;
  // the prefix as looked up (a view of the entry's own copy, even where it ends inside a surrogate pair)
  const key = own.slice(0, PREFIX_CHARS);
  const entry: InternEntry = { text: own, plain, innerDepth, hit: false };
  let list = byPrefix.get(key);
  if (list === undefined) {
    list = [];
    byPrefix.set(key, list);
  }
  if (list.length >= MAX_PER_PREFIX) totalChars -= list.shift()!.text.length;
  list.push(entry);
  totalChars += own.length;
  if (totalChars > MAX_INTERNED_CHARS) evict();
  return entry;
}

/** Oldest first, down to 3/4 of the budget; prefixes read since the last pass go to the back once. */
function evict(): void {
  const target = (MAX_INTERNED_CHARS * 3) / 4;
  for (const [key, list] of byPrefix) {
    if (totalChars <= target) return;
    byPrefix.delete(key);
    if (list.some((e) => e.hit)) {
      for (const e of list) e.hit = false;
      byPrefix.set(key, list);
      continue;
    }
    for (const e of list) totalChars -= e.text.length;
  }
  // everything was read since the last pass: drop from the front regardless
  for (const [key, list] of byPrefix) {
    if (totalChars <= target) return;
    byPrefix.delete(key);
    for (const e of list) totalChars -= e.text.length;
  }
}

/** Make `obj` the shared object of `entry`: deeply frozen, with an empty set of facts. */
export function adoptInterned(entry: InternEntry, obj: Record<string, unknown>): Readonly<Record<string, unknown>> {
  deepFreeze(obj);
  entry.obj = obj;
  facts.set(obj, {});
  return obj;
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) deepFreeze(v[i]);
    return;
  }
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) deepFreeze((v as Record<string, unknown>)[keys[i]!]);
}

/** How much is interned (for tests and metrics). */
export function internedStats(): { prefixes: number; entries: number; chars: number } {
  let entries = 0;
  for (const list of byPrefix.values()) entries += list.length;
  return { prefixes: byPrefix.size, entries, chars: totalChars };
}

/** Forget every interned text (objects already handed out stay frozen and keep their facts). */
export function clearInterned(): void {
  byPrefix.clear();
  lastFound = undefined;
  totalChars = 0;
}
