/**
 * Can the store hold this sample exactly as it came? (pure)
 *
 * A sample that passes field validation may still be one MongoDB refuses, or one the store would
 * silently change. Each is refused here, before any write, with a reason naming where it is:
 *  - a metadata key containing NUL (BSON keys are NUL-terminated: the driver refuses the whole batch);
 *  - a lone UTF-16 surrogate in any string, key or value (it cannot be encoded as UTF-8: the store
 *    would keep U+FFFD instead, a different value than the one sent and signed);
 *  - metadata nested deeper than `maxDepth` levels once dotted keys are expanded ({"a.b.c": 1} is 3
 *    levels; MongoDB refuses documents nested deeper than 100 levels);
 *  - two metadata keys that become the same stored key after Ceilometer's escaping ("$x" and "%24x"
 *    are both stored as "%24x"; {"a.b": 1} and {"a": {"b": 2}} are both a.b; {"a": 1} and {"a.b": 2}
 *    need "a" to be a value and an object): storing them would lose one without a word.
 */
import type { Sample } from '../sample';
import { internedFacts } from './interned';
import { pyQuote } from './keys';
import { codeAt } from './strings';

export interface StorableLimits {
  /** Deepest metadata nesting accepted, counted after dotted keys are expanded. */
  maxDepth: number;
}

export const DEFAULT_STORABLE_LIMITS: StorableLimits = { maxDepth: 32 };

const STRING_FIELDS = ['counter_name', 'counter_unit', 'user_id', 'project_id', 'resource_id', 'source', 'message_id'] as const;

const isDict = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

/** Index of the first lone surrogate in `s`, or -1. */
export function loneSurrogateAt(s: string): number {
  if (!/[\ud800-\udfff]/.test(s)) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = codeAt(s, i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = codeAt(s, i + 1);
      if (n >= 0xdc00 && n <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

const surrogateText = (s: string, at: number) => `\\u${s.charCodeAt(at).toString(16)} at character ${at}`;
const shown = (k: string) => JSON.stringify(k.length > 40 ? k.slice(0, 37) + '...' : k).replace(/\u0000/g, '\\u0000');
const quoteSegment = (k: string): string => (k.startsWith('$') ? pyQuote(k) : k);

interface Walk {
  problems: string[];
  /** Stored paths holding a value, to the original key path that put it there. */
  leaves: Map<string, string>;
  /** Stored paths holding an object (every prefix of a stored path). */
  containers: Map<string, string>;
  limits: StorableLimits;
}

/** Check a value at nesting level `depth` (a list counts one level, like an object). */
function checkValue(v: unknown, where: string, w: Walk, depth: number): void {
  if (typeof v === 'string') {
    const at = loneSurrogateAt(v);
    if (at >= 0) w.problems.push(`${where}: a lone UTF-16 surrogate (${surrogateText(v, at)}) cannot be stored as UTF-8`);
  } else if (Array.isArray(v)) {
    if (depth + 1 > w.limits.maxDepth) {
      w.problems.push(`${where}: nests ${depth + 1} levels deep (lists count one level); the limit is ${w.limits.maxDepth}`);
      return;
    }
    v.forEach((x, i) => {
      if (isDict(x)) walkDict(x, `${where}[${i}]`, [], depth + 1, w, true);
      else checkValue(x, `${where}[${i}]`, w, depth + 1);
    });
  }
}

/**
 * Walk one metadata object. `stored` is the stored path of `d` (escaped segments); `depth` its nesting
 * level. Inside lists (`inList`) keys are checked but not tracked for collisions (Ceilometer does not
 * escape inside lists).
 */
function walkDict(d: Record<string, unknown>, where: string, stored: string[], depth: number, w: Walk, inList = false): void {
  for (const [key, value] of Object.entries(d)) {
    const path = `${where}.${key}`;
    if (key.includes('\u0000')) {
      w.problems.push(`${where}: key ${shown(key)} contains a NUL character, which MongoDB cannot store in a field name`);
      continue;
    }
    const at = loneSurrogateAt(key);
    if (at >= 0) {
      w.problems.push(`${where}: key ${shown(key)} holds a lone UTF-16 surrogate (${surrogateText(key, at)}), which cannot be stored as UTF-8`);
      continue;
    }
    const segments = inList ? [key] : key.split('.').map(quoteSegment);
    const full = [...stored, ...segments];
    const level = depth + segments.length;
    if (level > w.limits.maxDepth) {
      w.problems.push(`${where}: key ${shown(key)} nests ${level} levels deep (dotted keys count one level per part); the limit is ${w.limits.maxDepth}`);
      continue;
    }
    if (!inList && !noteStoredPath(full, path, isDict(value), w)) continue;
    if (isDict(value)) walkDict(value, path, full, level, w, inList);
    else checkValue(value, path, w, level);
  }
}

/** Record where a key lands in the stored document; false (with a problem) when another key lands there too. */
function noteStoredPath(full: string[], original: string, isContainer: boolean, w: Walk): boolean {
  const storedName = full.join('.');
  const clash = (other: string) => {
    const rel = (p: string) => JSON.stringify(p.replace(/^resource_metadata\./, ''));
    w.problems.push(`resource_metadata: keys ${rel(other)} and ${rel(original)} are both stored as "${storedName}" after MongoDB key escaping ("$" quoted as "%24", dots nested); one would be lost, rename one`);
    return false;
  };
  const asLeaf = w.leaves.get(storedName);
  if (asLeaf !== undefined) return clash(asLeaf);
  if (!isContainer) {
    const asContainer = w.containers.get(storedName);
    if (asContainer !== undefined) return clash(asContainer);
    w.leaves.set(storedName, original);
  } else if (!w.containers.has(storedName)) w.containers.set(storedName, original);
  for (let i = 1; i < full.length; i++) {
    const prefix = full.slice(0, i).join('.');
    const leaf = w.leaves.get(prefix);
    if (leaf !== undefined) return clash(leaf);
    if (!w.containers.has(prefix)) w.containers.set(prefix, original);
  }
  return true;
}

// a key that is stored under another name or path ('.', a leading '$'), or cannot be stored (NUL, lone surrogates)
// eslint-disable-next-line no-control-regex
const UNUSUAL_KEY = /^\$|[.\u0000\ud800-\udfff]/;
const SURROGATE = /[\ud800-\udfff]/;

/**
 * The quick walk: true when no key of `d` (at any depth) is escaped, nested or unstorable and no string
 * holds a surrogate — then no two keys can land on one stored path and only the depth is left to check.
 * Writes the deepest level reached (as {@link walkDict} counts it) to `deepest[0]`.
 */
function plainDict(d: Record<string, unknown>, depth: number, deepest: [number]): boolean {
  const keys = Object.keys(d);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (UNUSUAL_KEY.test(key)) return false;
    if (!plainValue(d[key], depth + 1, deepest)) return false;
  }
  return true;
}

function plainValue(v: unknown, level: number, deepest: [number]): boolean {
  if (level > deepest[0]) deepest[0] = level;
  if (typeof v === 'string') return !SURROGATE.test(v);
  if (Array.isArray(v)) {
    // a list counts one level, also when empty
    if (level + 1 > deepest[0]) deepest[0] = level + 1;
    for (let i = 0; i < v.length; i++) if (!plainValue(v[i], level + 1, deepest)) return false;
    return true;
  }
  if (isDict(v)) return plainDict(v, level, deepest);
  return true;
}

/** The quick walk's verdict on a metadata object; kept with an interned one (interned.ts), which cannot change. */
function plainMetadata(m: Record<string, unknown>): { simple: boolean; maxLevel: number } {
  const facts = internedFacts(m);
  if (facts?.storable !== undefined) return facts.storable;
  const deepest: [number] = [0];
  const verdict = { simple: plainDict(m, 0, deepest), maxLevel: deepest[0] };
  if (facts !== undefined) facts.storable = verdict;
  return verdict;
}

const NO_PROBLEMS: readonly string[] = Object.freeze([]);

/** Every reason the store cannot hold `sample` as sent (empty when it can; an empty answer is shared and frozen). */
export function storableProblems(sample: Sample, limits: StorableLimits = DEFAULT_STORABLE_LIMITS): readonly string[] {
  const metadata = sample.resource_metadata ?? {};
  // the usual sample: plain keys and strings within the depth limit (the full walk would find nothing)
  const quick = plainMetadata(metadata);
  if (quick.simple && quick.maxLevel <= limits.maxDepth) {
    let plainStrings = true;
    for (let i = 0; i < STRING_FIELDS.length; i++) {
      const v = sample[STRING_FIELDS[i]!];
      if (typeof v === 'string' && SURROGATE.test(v)) plainStrings = false;
    }
    if (plainStrings) return NO_PROBLEMS;
  }
  return storableProblemsByWalk(sample, limits);
}

/** The same answer by the full walk alone (no quick verdict): the reference the tests hold the quick one to. */
export function storableProblemsByWalk(sample: Sample, limits: StorableLimits = DEFAULT_STORABLE_LIMITS): string[] {
  const w: Walk = { problems: [], leaves: new Map(), containers: new Map(), limits };
  for (const f of STRING_FIELDS) {
    const v = sample[f];
    if (typeof v === 'string') checkValue(v, f, w, 0);
  }
  walkDict(sample.resource_metadata ?? {}, 'resource_metadata', [], 0, w);
  return w.problems;
}
