/**
 * Ceilometer's MongoDB key escaping for `resource_metadata` (7.0.0 `storage/mongo/utils.py`
 * improve_keys / unquote_keys), for the store to apply before insert and undo on read:
 *  - a key containing '.' becomes nested dicts: {'a.b': v} → {a: {b: v}};
 *  - a key (or dotted segment) starting with '$' is percent-quoted like Python's
 *    urllib.parse.quote: '$foo' → '%24foo' (other unsafe characters in it are quoted too);
 *  - unescape reverses only the '$' rule (as unquote_keys does): nesting from dots is one-way.
 * Recursion goes through nested dicts, not into lists (as in Ceilometer).
 * Deviation: where Ceilometer's dict.update() let a dotted key clobber an existing sibling
 * ({'a': {'x': 1}, 'a.b': 2} lost 'x'), the nested parts are merged instead.
 */

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v) && (v as { _bsontype?: unknown })._bsontype === undefined;

/** Python urllib.parse.quote with its default safe set ('/' plus letters, digits and '_.-~'). */
export function pyQuote(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.\-~/]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Python urllib.parse.unquote (UTF-8, invalid sequences replaced). */
export function pyUnquote(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const quoteSegment = (k: string): string => (k.startsWith('$') ? pyQuote(k) : k);

function setKey(target: Dict, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function mergeInto(target: Dict, key: string, value: unknown): void {
  const existing = Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined;
  if (isDict(existing) && isDict(value)) {
    for (const [k, v] of Object.entries(value)) mergeInto(existing, k, v);
  } else {
    setKey(target, key, value);
  }
}

/** Escape metadata keys for MongoDB the way Ceilometer's improve_keys did. Does not mutate. */
export function escapeMetadataKeys(data: Dict): Dict {
  const out: Dict = {};
  for (const [key, raw] of Object.entries(data)) {
    const value = isDict(raw) ? escapeMetadataKeys(raw) : raw;
    if (key.includes('.')) {
      const parts = key.split('.').map(quoteSegment);
      let nested: unknown = value;
      for (let i = parts.length - 1; i >= 1; i--) {
        const d: Dict = {};
        setKey(d, parts[i]!, nested);
        nested = d;
      }
      mergeInto(out, parts[0]!, nested);
    } else {
      mergeInto(out, quoteSegment(key), value);
    }
  }
  return out;
}

/** Undo the '$' quoting (Ceilometer's unquote_keys): keys starting with '%24' are unquoted. */
export function unescapeMetadataKeys(data: Dict): Dict {
  const out: Dict = {};
  for (const [key, raw] of Object.entries(data)) {
    const value = isDict(raw) ? unescapeMetadataKeys(raw) : raw;
    setKey(out, key.startsWith('%24') ? pyUnquote(key) : key, value);
  }
  return out;
}
