/**
 * A JSON reader that keeps what JavaScript's JSON.parse throws away but Ceilometer's signature
 * depends on: whether a number literal was written as a float (`1.0`, `1e16` — Python renders
 * them "1.0", "1e+16") or an int (`1` → "1"), the exact digits of integers beyond 2^53, and the
 * `NaN` / `Infinity` / `-Infinity` tokens Python's json module emits. It also records the source
 * span of every array element so a rejected item can be dead-lettered as its original text.
 *
 * Values: objects → plain objects (last duplicate key wins, as in Python), arrays → arrays,
 * strings/booleans/null as usual, int literals → number (or bigint outside ±2^53), float literals
 * with a fractional value → number (a non-integral number can only be a float), float literals with
 * an integral value (`1.0`, `1e16`, `-0.0`) and the three special tokens → PyFloat.
 *
 * Speed: {@link parseTaggedJson} lets the engine's JSON.parse build the tree. A string-aware scan
 * in front of it finds the few literals JSON.parse would lose (integral float literals, integers
 * beyond 2^53, NaN/Infinity), the nesting depth, and the element spans of the shallow arrays
 * (the sample lists); only when such literals exist are they rewritten to marker strings and
 * restored after the parse. Anything unusual (a syntax error, NUL escapes, nesting deeper than
 * MAX_DEPTH) goes to the reference parser, which gives the exact error.
 */

import { addInterned, adoptInterned, findInterned, type InternEntry } from './interned';
import { codeAt, indexIn } from './strings';

/** A number that was written as a float literal (or NaN/Infinity) in the source JSON. */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
}

/** The value tree produced by {@link parseTaggedJson}. */
export type TaggedValue =
  | null
  | boolean
  | string
  | number
  | bigint
  | PyFloat
  | TaggedValue[]
  | { [key: string]: TaggedValue };

export class JsonSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`invalid JSON at line ${line} column ${column}: ${detail}`);
  }
}

export interface ParsedJson {
  value: TaggedValue;
  /** [start, end) offsets in the text of each element of every array in the tree. */
  itemSpans: WeakMap<TaggedValue[], Array<[number, number]>>;
  /** True when the tree holds no PyFloat or bigint anywhere (the fast reader found no such literal). */
  plainNumbers?: boolean;
}

/**
 * Set an own data property. Plain assignment is the fast path; only "__proto__" would hit
 * Object.prototype's setter (and change the prototype), so that one key goes through
 * defineProperty and stays data. Same result as defineProperty for every key, about 2x cheaper.
 */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

const MAX_DEPTH = 512;
// eslint-disable-next-line no-control-regex
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;

/**
 * The reference reader: a character-by-character parser producing the same tree as
 * {@link parseTaggedJson} (float literals as PyFloat throughout). Slow; used for the exact syntax
 * error message, as the fallback for inputs the fast path does not take, and by the tests.
 */
export function parseTaggedJsonStrict(text: string): ParsedJson {
  const itemSpans = new WeakMap<TaggedValue[], Array<[number, number]>>();
  let pos = 0;

  const fail = (detail: string, at = pos): never => {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < text.length; i++) {
      if (codeAt(text, i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new JsonSyntaxError(detail, at, line, at - lineStart + 1);
  };
  const describeAt = (): string => (pos >= text.length ? 'end of input' : JSON.stringify(text[pos]));

  const skipWs = (): void => {
    while (pos < text.length) {
      const c = codeAt(text, pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) pos++;
      else break;
    }
  };

  const parseValue = (depth: number): TaggedValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
    skipWs();
    const c = text[pos];
    if (c === '{') return parseObject(depth);
    if (c === '[') return parseArray(depth);
    if (c === '"') return parseString();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return parseNumber();
    if (text.startsWith('true', pos)) return (pos += 4), true;
    if (text.startsWith('false', pos)) return (pos += 5), false;
    if (text.startsWith('null', pos)) return (pos += 4), null;
    if (text.startsWith('NaN', pos)) return (pos += 3), new PyFloat(NaN);
    if (text.startsWith('Infinity', pos)) return (pos += 8), new PyFloat(Infinity);
    return fail(`unexpected ${describeAt()}`);
  };

  const parseObject = (depth: number): { [key: string]: TaggedValue } => {
    const obj: { [key: string]: TaggedValue } = {};
    pos++; // {
    skipWs();
    if (text[pos] === '}') {
      pos++;
      return obj;
    }
    for (;;) {
      skipWs();
      if (text[pos] !== '"') fail(`expected a string key, got ${describeAt()}`);
      const key = parseString();
      skipWs();
      if (text[pos] !== ':') fail(`expected ':' after key ${JSON.stringify(key)}, got ${describeAt()}`);
      pos++;
      const value = parseValue(depth + 1);
      setOwn(obj, key, value);
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      fail(`expected ',' or '}' in object, got ${describeAt()}`);
    }
  };

  const parseArray = (depth: number): TaggedValue[] => {
    const arr: TaggedValue[] = [];
    const spans: Array<[number, number]> = [];
    pos++; // [
    skipWs();
    if (text[pos] === ']') {
      pos++;
      itemSpans.set(arr, spans);
      return arr;
    }
    for (;;) {
      skipWs();
      const start = pos;
      arr.push(parseValue(depth + 1));
      spans.push([start, pos]);
      skipWs();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        itemSpans.set(arr, spans);
        return arr;
      }
      fail(`expected ',' or ']' in array, got ${describeAt()}`);
    }
  };

  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let chunkStart = pos;
    for (;;) {
      STRING_RUN.lastIndex = pos; // jump over the plain characters in one regex step
      STRING_RUN.test(text);
      pos = STRING_RUN.lastIndex;
      if (pos >= text.length) fail('unterminated string', start);
      const c = codeAt(text, pos);
      if (c === 34) {
        out += text.slice(chunkStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail(`control character U+${c.toString(16).padStart(4, '0')} inside a string`);
      if (c === 92) {
        out += text.slice(chunkStart, pos);
        const e = text[pos + 1];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(pos + 2, pos + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(`bad \\u escape ${JSON.stringify(text.slice(pos, pos + 6))}`);
            out += String.fromCharCode(parseInt(hex, 16));
            pos += 4;
            break;
          }
          default:
            fail(`bad escape ${JSON.stringify('\\' + (e ?? ''))}`);
        }
        pos += 2;
        chunkStart = pos;
        continue;
      }
      pos++;
    }
  };

  const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const parseNumber = (): TaggedValue => {
    if (text.startsWith('-Infinity', pos)) {
      pos += 9;
      return new PyFloat(-Infinity);
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail(`malformed number starting ${JSON.stringify(text.slice(pos, pos + 12))}`);
    pos += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };

  const value = parseValue(0);
  skipWs();
  if (pos < text.length) fail(`unexpected ${describeAt()} after the JSON value`);
  return { value, itemSpans };
}

/** Marker prefix of a rewritten literal ("\u0000f1.0" / "\u0000i123…"); inputs containing NUL escapes skip the fast path. */
const MARK = '\\u0000';
/** Arrays opened at most this deep get their element spans recorded (body list, payload, payload.samples). */
const SPAN_DEPTH = 3;
/** With interning, containers opened at most this deep get a key path (down to a polling notification's item metadata). */
const INTERN_PATH_DEPTH = 5;
const PATH_SEP = '\u0001';
/** The member whose object values are interned (interned.ts). */
const INTERN_KEY = 'resource_metadata';

interface InternHit {
  entry: InternEntry;
  /** The engine was given `null` in place of the text; entry.obj is the value. */
  replaced: boolean;
  /** Key path of the object holding the member (the sample item). */
  owner: string;
  /** When that object is an element of a list: the list's key path and the element's index (no path to split). */
  list: string | undefined;
  index: number;
}

interface ScanResult {
  /** [start, end, kind] of literals JSON.parse would lose: 'f' integral float / NaN / Infinity, 'i' integer beyond 2^53. */
  specials: Array<[number, number, 'f' | 'i']>;
  /** Element spans of the arrays nested at most SPAN_DEPTH deep, by key path (last duplicate wins). */
  spans: Map<string, Array<[number, number]>>;
  /** Metadata texts known and read before: [start, end) given to the engine as `null`. */
  replaced: Array<[number, number]>;
  /** With interning: key path of each object holding a `resource_metadata` object → its interned text (last duplicate wins). */
  interns: Map<string, InternHit> | undefined;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const isWs = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

/** The text of the key string text[start, end) (quotes included); undefined for a bad escape. */
function keyText(text: string, start: number, end: number, escaped: boolean): string | undefined {
  if (!escaped) return text.slice(start + 1, end - 1);
  try {
    return JSON.parse(text.slice(start, end)) as string;
  } catch {
    return undefined; // the reference parser names the bad escape
  }
}

/** Whether the key string text[start, end) is "resource_metadata" (without slicing for every other key). */
function isInternKey(text: string, start: number, end: number, escaped: boolean): boolean {
  if (escaped) return keyText(text, start, end, true) === INTERN_KEY;
  return end - start === INTERN_KEY.length + 2 && codeAt(text, start + 1) === 114 && text.slice(start + 1, end - 1) === INTERN_KEY;
}

/**
 * Whether the number literal text[start, end) needs a typed form, the one rule of both readers: 'f' for a
 * float literal whose value the engine makes integral or infinite (`1.0`, `1e16`, `1E400`: Python keeps a
 * float), 'i' for an integer literal beyond 2^53 (its digits), undefined when the engine's number is exact.
 */
function literalType(text: string, start: number, end: number): 'f' | 'i' | undefined {
  let float = false;
  for (let k = start; k < end && !float; k++) {
    const d = codeAt(text, k);
    float = d === 46 || d === 101 || d === 69;
  }
  if (!float && end - start <= 15) return undefined;
  const n = Number(text.slice(start, end));
  if (float) return Number.isInteger(n) || !Number.isFinite(n) ? 'f' : undefined;
  return Number.isSafeInteger(n) ? undefined : 'i';
}

const SPECIALS: ScanResult['specials'] = [];
const SPANS: ScanResult['spans'] = new Map();
const REPLACED: ScanResult['replaced'] = [];
const INTERNS = new Map<string, InternHit>();
const ST_ARR: boolean[] = [];
const ST_PATH: Array<string | undefined> = [];
const ST_SPANS: Array<Array<[number, number]> | undefined> = [];
const ST_ELEM: number[] = [];
const ST_COUNT: number[] = [];

/**
 * The string-aware scan in front of JSON.parse; undefined when the input needs the reference parser.
 * Its result lives in containers shared by every call: valid until the next scan.
 */
function scan(text: string, intern: boolean): ScanResult | undefined {
  const n = text.length;
  // (the scan's containers are reused from call to call: a Kafka message is parsed on its own, and a
  // Map and a few arrays per message were a good part of its garbage; nothing here is re-entered)
  const specials = SPECIALS;
  const spans = SPANS;
  const replaced = REPLACED;
  const interns = intern ? INTERNS : undefined;
  specials.length = 0;
  spans.clear();
  replaced.length = 0;
  INTERNS.clear();
  const pathDepth = intern ? INTERN_PATH_DEPTH : SPAN_DEPTH;
  // The innermost open container: whether it is an array, its key path (shallow ones only), the element
  // spans being collected, where its current element began and how many elements it has had. The
  // enclosing containers' state waits on the stacks (index = depth - 1 of the container).
  let inArr = false;
  let curPath: string | undefined;
  let curSpans: Array<[number, number]> | undefined;
  let curElem = -1;
  let curCount = 0;
  const stArr = ST_ARR;
  const stPath = ST_PATH;
  const stSpans = ST_SPANS;
  const stElem = ST_ELEM;
  const stCount = ST_COUNT;
  let depth = 0;
  let lastEnd = 0; // end of the last value token
  // the last string read, and the key of the current member (set at ':'; -1 when none)
  let strStart = -1;
  let strEnd = -1;
  let strEscaped = false;
  let keyStart = -1;
  let keyEnd = -1;
  let keyEscaped = false;
  // the first backslash not before the last string's end: a string ending before it has no escapes
  let nextBackslash = indexIn(text, '\\');
  if (nextBackslash === -1) nextBackslash = n;
  // the metadata object being read for the first time (interning): where it began, at which depth, its
  // deepest nesting, its key path, the entry of the same text if one is known, specials before it
  let candStart = -1;
  let candDepth = 0;
  let candMax = 0;
  let candHit: InternHit | undefined;
  let candEntry: InternEntry | undefined;
  let candSpecials = 0;
  let i = 0;
  while (i < n) {
    const c = codeAt(text, i);
    if (c === 34) {
      // string: the closing quote; only where a backslash comes first can a quote be escaped
      let j = indexIn(text, '"', i + 1);
      if (j === -1) return undefined;
      let escaped = false;
      if (nextBackslash < j) {
        escaped = true;
        for (;;) {
          let k = j - 1;
          while (codeAt(text, k) === 92) k--;
          if ((j - 1 - k) % 2 === 0) break;
          j = indexIn(text, '"', j + 1);
          if (j === -1) return undefined;
        }
        nextBackslash = indexIn(text, '\\', j + 1);
        if (nextBackslash === -1) nextBackslash = n;
      }
      if (inArr && curElem === -1) curElem = i;
      strStart = i;
      strEnd = j + 1;
      strEscaped = escaped;
      lastEnd = j + 1;
      i = j + 1;
      continue;
    }
    if (isWs(c)) {
      i++;
      continue;
    }
    switch (c) {
      case 58: // ':' — the string just read was a key
        keyStart = strStart;
        keyEnd = strEnd;
        keyEscaped = strEscaped;
        // a later duplicate of the key replaces an earlier value (last one wins, as in the parse)
        if (interns !== undefined && curPath !== undefined && isInternKey(text, keyStart, keyEnd, keyEscaped)) interns.delete(curPath);
        i++;
        continue;
      case 44: // ','
        if (inArr) {
          if (curSpans) curSpans.push([curElem, lastEnd]);
          curElem = -1;
          curCount++;
        }
        i++;
        continue;
      case 91: // '['
      case 123: {
        // '{'
        if (depth >= MAX_DEPTH) return undefined;
        if (inArr && curElem === -1) curElem = i;
        // key path of the new container (shallow ones only): '' at the top, then parent + key or #index
        let path: string | undefined;
        let internHere = false;
        if (depth === 0) path = '';
        else if (depth < pathDepth && candStart === -1 && curPath !== undefined) {
          if (inArr) path = curPath + PATH_SEP + '#' + curCount;
          else if (keyStart !== -1) {
            const key = keyText(text, keyStart, keyEnd, keyEscaped);
            if (key === undefined) return undefined;
            // a key holding the path separator could make two containers' paths equal
            if (keyEscaped && key.includes(PATH_SEP)) return undefined;
            path = curPath + PATH_SEP + key;
            internHere = c === 123 && interns !== undefined && key === INTERN_KEY;
          }
        }
        if (internHere) {
          const entry = findInterned(text, i);
          // the object holding the member: its path, and its list and index when it is a list's element
          const inList = stArr[depth - 1] === true;
          const hit: InternHit = { entry: entry!, replaced: false, owner: curPath!, list: inList ? stPath[depth - 1] : undefined, index: inList ? stCount[depth - 1]! : -1 };
          if (entry !== undefined && entry.obj !== undefined && entry.plain && depth + entry.innerDepth <= MAX_DEPTH) {
            // read before: the engine gets null here, the value is the interned object
            const end = i + entry.text.length;
            replaced.push([i, end]);
            hit.replaced = true;
            interns!.set(curPath!, hit);
            keyStart = -1;
            lastEnd = end;
            i = end;
            continue;
          }
          candStart = i;
          candDepth = depth;
          candMax = depth + 1;
          candHit = hit;
          candEntry = entry;
          candSpecials = specials.length;
        }
        stArr[depth] = inArr;
        stPath[depth] = curPath;
        stSpans[depth] = curSpans;
        stElem[depth] = curElem;
        stCount[depth] = curCount;
        inArr = c === 91;
        curPath = path;
        curSpans = inArr && path !== undefined && depth < SPAN_DEPTH ? [] : undefined;
        curElem = -1;
        curCount = 0;
        depth++;
        if (candStart !== -1 && depth > candMax) candMax = depth;
        keyStart = -1;
        i++;
        continue;
      }
      case 93: // ']'
      case 125: {
        // '}'
        if (depth === 0) return undefined;
        if (inArr && curSpans) {
          if (curElem !== -1) curSpans.push([curElem, lastEnd]);
          spans.set(curPath!, curSpans);
        }
        depth--;
        inArr = stArr[depth]!;
        curPath = stPath[depth];
        curSpans = stSpans[depth];
        curElem = stElem[depth]!;
        curCount = stCount[depth]!;
        lastEnd = i + 1;
        if (candStart !== -1 && depth === candDepth) {
          // the metadata object read for the first time ends here (the same text as a known entry, or a new one)
          const entry =
            candEntry !== undefined && candEntry.text.length === i + 1 - candStart
              ? candEntry
              : addInterned(text, candStart, i + 1, specials.length === candSpecials, candMax - candDepth);
          if (entry !== undefined) {
            candHit!.entry = entry;
            interns!.set(candHit!.owner, candHit!);
          }
          candStart = -1;
          candEntry = undefined;
        }
        i++;
        continue;
      }
    }
    // a bare token: number, true/false/null, NaN/Infinity
    let j = i + 1;
    while (j < n) {
      const d = codeAt(text, j);
      if (d === 44 || d === 93 || d === 125 || d === 58 || d === 34 || d === 91 || d === 123 || isWs(d)) break;
      j++;
    }
    if (inArr && curElem === -1) curElem = i;
    if ((c >= 48 && c <= 57) || c === 45) {
      if (c === 45 && codeAt(text, i + 1) > 57) {
        if (text.slice(i, j) !== '-Infinity') return undefined;
        specials.push([i, j, 'f']);
      } else {
        const kind = literalType(text, i, j);
        // only well-formed literals are rewritten (JSON.parse never sees them); others go to the reference parser
        if (kind !== undefined) {
          if (!JSON_NUMBER.test(text.slice(i, j))) return undefined;
          specials.push([i, j, kind]);
        }
      }
    } else if (c === 78 || c === 73) {
      const tok = text.slice(i, j);
      if (tok !== 'NaN' && tok !== 'Infinity') return undefined;
      specials.push([i, j, 'f']);
    }
    lastEnd = j;
    i = j;
  }
  // the shallow stack entries may hold a path and a span list of this text: not kept past the call
  for (let k = 0; k <= INTERN_PATH_DEPTH && k < stPath.length; k++) {
    stPath[k] = undefined;
    stSpans[k] = undefined;
  }
  return { specials, spans, replaced, interns };
}

/** Replace the marker strings of a rewritten parse by PyFloat / bigint (in place). */
function restore(value: unknown): unknown {
  if (typeof value === 'string') {
    if (codeAt(value, 0) !== 0) return value;
    const lit = value.slice(2);
    if (value[1] === 'i') return BigInt(lit);
    if (lit === 'NaN') return new PyFloat(NaN);
    if (lit === 'Infinity') return new PyFloat(Infinity);
    if (lit === '-Infinity') return new PyFloat(-Infinity);
    return new PyFloat(Number(lit));
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restore(value[i]);
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (v !== null && (typeof v === 'object' || (typeof v === 'string' && codeAt(v, 0) === 0))) setOwn(obj, k, restore(v));
  }
  return obj;
}

/** The node at a scan key path ('' = the root), or undefined. */
function nodeAt(root: unknown, path: string): unknown {
  if (path === '') return root;
  const segs = path.split(PATH_SEP);
  let node: unknown = root;
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    if (Array.isArray(node)) node = seg.charCodeAt(0) === 35 ? node[Number(seg.slice(1))] : undefined;
    else if (node !== null && typeof node === 'object' && !(node instanceof PyFloat)) node = Object.prototype.hasOwnProperty.call(node, seg) ? (node as Record<string, unknown>)[seg] : undefined;
    else return undefined;
  }
  return node;
}

/** Put the interned objects in place (and adopt the ones read for the first time). */
function internAll(root: unknown, interns: Map<string, InternHit>): void {
  let listPath: string | undefined;
  let list: unknown;
  for (const hit of interns.values()) {
    let parent: unknown;
    if (hit.list !== undefined) {
      // the usual case, a sample in a list: the list found once, the element by index
      if (hit.list !== listPath) {
        listPath = hit.list;
        list = nodeAt(root, hit.list);
      }
      parent = Array.isArray(list) ? list[hit.index] : undefined;
    } else parent = nodeAt(root, hit.owner);
    if (parent === null || typeof parent !== 'object' || Array.isArray(parent) || parent instanceof PyFloat) continue;
    const owner = parent as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(owner, INTERN_KEY)) continue;
    const v = owner[INTERN_KEY];
    if (hit.replaced) {
      if (v === null) owner[INTERN_KEY] = hit.entry.obj;
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat)) {
      owner[INTERN_KEY] = hit.entry.obj ?? adoptInterned(hit.entry, v as Record<string, unknown>);
    }
  }
}

/** The span table of a text without shallow arrays (a single Kafka message): shared, never written. */
const NO_SPANS = new WeakMap<TaggedValue[], Array<[number, number]>>();

export interface TaggedJsonOptions {
  /**
   * Intern `resource_metadata` objects (interned.ts): a metadata text read before is not parsed again, and
   * every sample with that text shares one deeply frozen object. For the ingestion parsers, which never
   * change what they read; callers that edit the tree must leave this off (the default).
   */
  intern?: boolean;
}

const QUOTED_INTERN_KEY = '"' + INTERN_KEY + '"';
/** Most integral numbers per sample whose literal the known-samples reader looks up before leaving the text to the scan. */
const KNOWN_SAMPLE_MAX_INTS = 4;

/** Offset of the first character after optional whitespace, a colon and optional whitespace from `i`; -1 when there is no colon. */
function afterColon(text: string, i: number): number {
  while (isWs(codeAt(text, i))) i++;
  if (codeAt(text, i) !== 58) return -1;
  i++;
  while (isWs(codeAt(text, i))) i++;
  return i;
}

/** Whether the object opening at `m` is the value of a `"resource_metadata"` key (written just before it). */
function keyedByMetadata(text: string, m: number): boolean {
  let i = m - 1;
  while (i >= 0 && isWs(codeAt(text, i))) i--;
  if (codeAt(text, i) !== 58) return false;
  i--;
  while (i >= 0 && isWs(codeAt(text, i))) i--;
  const start = i + 1 - QUOTED_INTERN_KEY.length;
  return start >= 0 && text.slice(start, i + 1) === QUOTED_INTERN_KEY;
}

/** Offsets of every `c` in `text` (a single-character search is a memory scan: far cheaper than a substring search). */
function offsetsOf(text: string, c: string, out: number[]): number[] {
  out.length = 0;
  for (let i = indexIn(text, c); i !== -1; i = indexIn(text, c, i + 1)) out.push(i);
  return out;
}
const OPENS: number[] = [];
const CLOSES: number[] = [];
const KNOWN: InternEntry[] = [];

/**
 * Give the integral numbers of one flat sample object their typed form from their literals in `item`
 * (the sample's own text, metadata replaced): a float literal becomes PyFloat, an integer beyond 2^53 a
 * bigint, as in the scan. Each is found by its key, which must be written exactly once in the text.
 * Returns whether the sample holds no typed number, or undefined when a literal cannot be placed.
 */
function typeIntegralLiterals(obj: Record<string, TaggedValue>, item: string): boolean | undefined {
  let plain = true;
  let lookups = 0;
  const keys = Object.keys(obj);
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i]!];
    // integral (1.0, 2^53 + 1) or beyond the double range (1e400, 10^400): the literal decides
    if (typeof v !== 'number' || !(Number.isInteger(v) || !Number.isFinite(v))) continue;
    if (++lookups > KNOWN_SAMPLE_MAX_INTS) return undefined;
    const quoted = '"' + keys[i]! + '"';
    // written exactly once: searched again from the next character, since a match can overlap the key
    // (a key like `:1,` matches first at the closing quote of the string before it)
    const at = indexIn(item, quoted);
    if (at === -1 || indexIn(item, quoted, at + 1) !== -1) return undefined;
    const start = afterColon(item, at + quoted.length);
    if (start === -1) return undefined;
    let stop = start + 1;
    for (let d = codeAt(item, stop); (d >= 48 && d <= 57) || d === 43 || d === 45 || d === 46 || d === 101 || d === 69; d = codeAt(item, stop)) stop++;
    const kind = literalType(item, start, stop);
    if (kind === 'f') setOwn(obj, keys[i]!, new PyFloat(v));
    else if (kind === 'i') setOwn(obj, keys[i]!, BigInt(item.slice(start, stop)));
    else continue;
    plain = false;
  }
  return plain;
}

/**
 * The usual ingestion inputs without the scan: one flat sample object (a Kafka meter message) or a list
 * of them (an HTTP publisher body), each with a `resource_metadata` object read before (interned.ts).
 * Each sample's first inner `{` must open a known metadata text written as the value of a
 * `"resource_metadata"` key, with no other such key after it in the sample; with those texts replaced by
 * `null`, the rest must hold no backslash, no `[` but a list's own, and exactly one `{` and (in a list)
 * one `}` per sample. Anything else, and any literal it cannot place, is left to the scan (undefined).
 *
 * Why that is exact. Without backslashes every `"` of the rest delimits a string and every key is
 * written as it reads. Once JSON.parse accepts the rest as one object, or a list of N objects, with N
 * `{` in all, those are the samples' own braces: there is no other object, and no brace inside a string
 * (in a list the same holds for the N `}`, which are then each sample's end: its span). So the replaced
 * texts were found sample by sample, one inside each; each follows its key and no such key follows it in
 * its sample, so it is the member JSON's last-wins rule keeps (the sample must own it, read as `null`).
 * It is a complete object (it was parsed before), so the original holds that object where the engine
 * read `null`. NaN/Infinity make JSON.parse fail.
 * Every other value of a sample is a scalar: typeIntegralLiterals types the integral numbers.
 * (Substring searches cost about a nanosecond a character, single characters far less: the key
 * lookups run on one sample's text without its metadata.)
 */
export function parseKnownSamples(text: string): ParsedJson | undefined {
  const list = codeAt(text, 0) === 91;
  if (!list && codeAt(text, 0) !== 123) return undefined;
  const known = KNOWN;
  known.length = 0;
  let source = '';
  let at = 0;
  // Each sample: its '{', then the next '{' opens its metadata, with the key written just before it
  // (found backwards from that brace: single-character searches, no substring search over the text); the
  // rest of the sample, up to the next sample's '{', holds no later "resource_metadata" (it would win).
  for (let open = list ? indexIn(text, '{') : 0; open !== -1; ) {
    const m = indexIn(text, '{', open + 1);
    if (m === -1 || !keyedByMetadata(text, m)) return undefined;
    const entry = findInterned(text, m);
    if (entry === undefined || entry.obj === undefined || !entry.plain || entry.innerDepth + (list ? 2 : 1) > MAX_DEPTH) return undefined;
    known.push(entry);
    source += text.slice(at, m) + 'null';
    at = m + entry.text.length;
    open = list ? indexIn(text, '{', at) : -1;
    if (indexIn(open === -1 ? text.slice(at) : text.slice(at, open), QUOTED_INTERN_KEY) !== -1) return undefined;
  }
  const n = known.length;
  if (n === 0) return undefined;
  source += text.slice(at);
  if (indexIn(source, '\\') !== -1 || indexIn(source, '[', list ? 1 : 0) !== -1) return undefined;
  const opens = offsetsOf(source, '{', OPENS);
  if (opens.length !== n) return undefined;
  const closes = list ? offsetsOf(source, '}', CLOSES) : undefined;
  if (closes !== undefined && closes.length !== n) return undefined;
  let value: TaggedValue;
  try {
    value = JSON.parse(source) as TaggedValue;
  } catch {
    return undefined;
  }
  const items: TaggedValue[] = list ? (Array.isArray(value) ? value : []) : [value];
  if (items.length !== n) return undefined;
  const spans: Array<[number, number]> | undefined = list ? new Array<[number, number]>(n) : undefined;
  let plainNumbers = true;
  let shift = 0; // characters the replaced texts before the sample had beyond 'null'
  for (let i = 0; i < n; i++) {
    const item = items[i];
    if (item === null || typeof item !== 'object' || Array.isArray(item) || item instanceof PyFloat) return undefined;
    const obj = item as Record<string, TaggedValue>;
    if (!Object.prototype.hasOwnProperty.call(obj, INTERN_KEY) || obj[INTERN_KEY] !== null) return undefined;
    const plain = typeIntegralLiterals(obj, closes === undefined ? source : source.slice(opens[i]!, closes[i]! + 1));
    if (plain === undefined) return undefined;
    if (!plain) plainNumbers = false;
    obj[INTERN_KEY] = known[i]!.obj as Record<string, TaggedValue>;
    if (spans !== undefined) {
      const start = opens[i]! + shift;
      shift += known[i]!.text.length - 4;
      spans[i] = [start, closes![i]! + 1 + shift];
    }
  }
  known.length = 0;
  if (spans === undefined) return { value, itemSpans: NO_SPANS, plainNumbers };
  const itemSpans = new WeakMap<TaggedValue[], Array<[number, number]>>();
  itemSpans.set(value as TaggedValue[], spans);
  return { value, itemSpans, plainNumbers };
}

/** Parse one JSON text (surrounding whitespace allowed). Throws JsonSyntaxError. */
export function parseTaggedJson(text: string, options?: TaggedJsonOptions): ParsedJson {
  if (options?.intern === true) {
    const known = parseKnownSamples(text);
    if (known !== undefined) return known;
  }
  const scanned = text.includes('\\u0000') ? undefined : scan(text, options?.intern === true);
  if (!scanned) return parseTaggedJsonStrict(text);
  const { specials, replaced } = scanned;
  let source = text;
  if (specials.length || replaced.length) {
    // the literals as marker strings and the interned metadata as null, merged in text order
    let out = '';
    let at = 0;
    let s = 0;
    let r = 0;
    while (s < specials.length || r < replaced.length) {
      if (r >= replaced.length || (s < specials.length && specials[s]![0] < replaced[r]![0])) {
        const [start, end, kind] = specials[s++]!;
        out += text.slice(at, start) + '"' + MARK + kind + text.slice(start, end) + '"';
        at = end;
      } else {
        const [start, end] = replaced[r++]!;
        out += text.slice(at, start) + 'null';
        at = end;
      }
    }
    source = out + text.slice(at);
  }
  let value: TaggedValue;
  try {
    value = JSON.parse(source) as TaggedValue;
  } catch {
    return parseTaggedJsonStrict(text); // the exact syntax error (or a form JSON.parse refuses but the reader takes)
  }
  if (specials.length) value = restore(value) as TaggedValue;
  if (scanned.interns !== undefined && scanned.interns.size) internAll(value, scanned.interns);
  const plainNumbers = specials.length === 0;
  if (scanned.spans.size === 0) return { value, itemSpans: NO_SPANS, plainNumbers };
  const itemSpans = new WeakMap<TaggedValue[], Array<[number, number]>>();
  for (const [path, spans] of scanned.spans) {
    const node = nodeAt(value, path);
    if (Array.isArray(node) && node.length === spans.length) itemSpans.set(node, spans);
  }
  return { value, itemSpans, plainNumbers };
}

/**
 * The tagged reader's tree for a text that holds one object of strings only (an oslo envelope:
 * {"oslo.version": "2.0", "oslo.message": "<the notification as JSON text>"}), read by the engine alone;
 * undefined for any other text. Such an envelope is one long string with an escaped quote for every quote
 * of the notification, which the scan would step through one by one. When the engine's parse gives an
 * object whose values are all strings, the text held no number literal, list or nesting, so that parse
 * is exactly the tagged reader's (same strings, last duplicate key wins, "__proto__" an own key).
 */
export function parseStringRecord(text: string): ParsedJson | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) if (typeof (value as Record<string, unknown>)[keys[i]!] !== 'string') return undefined;
  return { value: value as TaggedValue, itemSpans: NO_SPANS, plainNumbers: true };
}

/** The raw text of element `index` of an array produced by {@link parseTaggedJson}. */
export function itemText(parsed: ParsedJson, text: string, arr: TaggedValue[], index: number): string | undefined {
  const span = parsed.itemSpans.get(arr)?.[index];
  return span ? text.slice(span[0], span[1]) : undefined;
}

/** Render a float the way Python's repr()/str() does (shortest round-trip digits, Python layout). */
export function pyFloatRepr(x: number): string {
  const a = Math.abs(x);
  // Between 1e-4 and 1e16 both languages write the shortest round-trip digits positionally;
  // Python adds ".0" to an integral value.
  if (a >= 1e-4 && a < 1e16) {
    const s = String(x);
    return Number.isInteger(x) ? s + '.0' : s;
  }
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest round-trip digits, like Python's repr.
  const [mantissa, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  const decpt = exp + 1; // position of the decimal point relative to the digit string
  if (decpt > 16 || decpt < -3) {
    const frac = digits.length > 1 ? '.' + digits.slice(1) : '';
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * Serialise a tagged value back to JSON the way Python's json.dumps would lay out its numbers:
 * PyFloat keeps its float form ("1.0", "1e+16", "NaN", "Infinity"), ints and bigints are digits.
 * Used by `metering sample sign` so a signed message re-read by Python hashes identically.
 */
export function stringifyTagged(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) {
    const v = value.value;
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return pyFloatRepr(v);
  }
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : stringifyTagged(new PyFloat(value));
    case 'string':
      return JSON.stringify(value);
    case 'object':
      if (Array.isArray(value)) return '[' + value.map(stringifyTagged).join(', ') + ']';
      return (
        '{' +
        Object.entries(value as Record<string, unknown>)
          .map(([k, v]) => `${JSON.stringify(k)}: ${stringifyTagged(v)}`)
          .join(', ') +
        '}'
      );
    default:
      throw new TypeError(`cannot serialise a ${typeof value} as JSON`);
  }
}

/** Convert a tagged tree to plain JavaScript values (PyFloat → number, bigint → number). */
export function untag(value: unknown): unknown {
  if (value instanceof PyFloat) return value.value;
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(untag);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const src = value as Record<string, unknown>;
    for (const k of Object.keys(src)) setOwn(out, k, untag(src[k]));
    return out;
  }
  return value;
}
