/**
 * Ceilometer's message signature (`ceilometer/publisher/utils.py` compute_signature /
 * verify_signature): HMAC-SHA256 keyed with `[publisher] telemetry_secret` over
 * `name1 value1 name2 value2 …` run together, keys sorted by code point at each level, nested
 * dicts flattened to `parent:child`, values rendered with Python str(), lists with Python repr
 * (strings as bytes on master, plain on 7.0.0/py3), the top-level `message_signature` skipped.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';
import { PyFloat } from './json';
import { internedFacts } from './interned';
import { pyStr, sortedKeys, sortedShape, type ListForm } from './pystr';
import { codeAt } from './strings';

export type { ListForm } from './pystr';

/** Yields [flattened name, value] pairs exactly as Ceilometer's recursive_keypairs does. */
export function* recursiveKeypairs(d: Record<string, unknown>, prefix = ''): Generator<[string, unknown]> {
  for (const name of sortedKeys(d)) {
    const value = d[name];
    const full = prefix + name;
    if (isDict(value)) yield* recursiveKeypairs(value, full + ':');
    else yield [full, value];
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat) && !Buffer.isBuffer(v);
}

/**
 * Hex signature of `message` under `secret`; '' when secret is empty (Ceilometer does not sign
 * then). `form` picks how strings inside lists are rendered (see ListForm); default master.
 */
export function computeSignature(message: Record<string, unknown>, secret: string, form: ListForm = 'master'): string {
  if (!secret) return '';
  return hmacSha256Hex(secret, signedText(message, '', form));
}

/** One-shot hashing (Node ≥ 20.12): no Hash object per call. */
const oneShotHash = (nodeCrypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: string) => string | Buffer }).hash;
const BLOCK = 64;
/** Views of the inner buffer by end offset, up to this end (a view per message was a good part of its garbage). */
const VIEW_ENDS = 4096;
/**
 * Per secret, two buffers that start with the HMAC key blocks: `inner` = K⊕ipad followed by room for the
 * message, `outer` = K⊕opad followed by the 32 bytes of the inner digest. A deployment has one or two secrets.
 */
interface KeyBlocks {
  inner: Buffer;
  outer: Buffer;
  /** inner.subarray(0, end) by end (messages of one producer come in a few lengths). */
  views: Array<Buffer | undefined>;
}
const keyBlocks = new Map<string, KeyBlocks>();

function blocksFor(secret: string): KeyBlocks {
  let b = keyBlocks.get(secret);
  if (!b) {
    let key = Buffer.from(secret, 'utf8');
    if (key.length > BLOCK) key = createHash('sha256').update(key).digest();
    const inner = Buffer.alloc(BLOCK + 16 * 1024, 0x36);
    const outer = Buffer.alloc(BLOCK + 32, 0x5c);
    for (let i = 0; i < key.length; i++) {
      inner[i]! ^= key[i]!;
      outer[i]! ^= key[i]!;
    }
    if (keyBlocks.size >= 16) keyBlocks.clear();
    b = { inner, outer, views: new Array<Buffer | undefined>(VIEW_ENDS) };
    keyBlocks.set(secret, b);
  }
  return b;
}

/** Room for `more` bytes after the key block in the inner buffer. */
function room(b: KeyBlocks, more: number): void {
  if (b.inner.length >= BLOCK + more) return;
  const grown = Buffer.allocUnsafe(Math.max(BLOCK + more, b.inner.length * 2));
  b.inner.copy(grown, 0, 0, BLOCK);
  b.inner = grown;
  b.views = new Array<Buffer | undefined>(VIEW_ENDS);
}

/**
 * HMAC-SHA256 (RFC 2104) of `text` (UTF-8) as hex: H(K⊕opad ‖ H(K⊕ipad ‖ text)) with two one-shot
 * hashes over buffers that already hold the key blocks, about three times cheaper than a crypto.Hmac
 * object per message; the same digest (checked against createHmac in the tests). The inner digest comes
 * back as latin1 text and is written after the outer key block as such: a 'buffer' digest costs about as
 * much as hashing 1 KB.
 */
export function hmacSha256Hex(secret: string, text: string): string {
  if (!oneShotHash) return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
  const b = blocksFor(secret);
  room(b, text.length * 3);
  const end = BLOCK + b.inner.write(text, BLOCK, 'utf8');
  let view = end < VIEW_ENDS ? b.views[end] : undefined;
  if (view === undefined) {
    view = b.inner.subarray(0, end);
    if (end < VIEW_ENDS) b.views[end] = view;
  }
  const inner = oneShotHash('sha256', view, 'latin1') as string;
  b.outer.write(inner, BLOCK, 32, 'latin1');
  return oneShotHash('sha256', b.outer, 'hex') as string;
}

/**
 * `name1 value1 name2 value2 …` as recursive_keypairs yields them, run together (top-level
 * message_signature left out), as one string: the engine joins the short pieces without copying them,
 * and the text is written to the hash buffer in one call (a call per piece costs more than the bytes).
 */
function signedText(d: Record<string, unknown>, prefix: string, form: ListForm): string {
  let out = '';
  const { keys, order } = sortedShape(d);
  const values = Object.values(d); // one call instead of a keyed lookup per key
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i]!;
    if (prefix === '' && name === 'message_signature') continue;
    const value = values[order[i]!];
    // the common scalars inline; everything else through pyStr
    if (typeof value === 'string') out += (prefix === '' ? name : prefix + name) + value;
    else if (value === null) out += (prefix === '' ? name : prefix + name) + 'None';
    else if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) out += (prefix === '' ? name : prefix + name) + value;
    else if (isDict(value)) out += internedSigned(value, prefix, name, form) ?? signedText(value, prefix + name + ':', form);
    else out += (prefix === '' ? name : prefix + name) + pyStr(value, form);
  }
  return out;
}

/**
 * The signed text of an interned (frozen, shared) metadata object under `prefix + name + ':'`, worked
 * out once and kept with it (interned.ts), since every sample of the resource carries the same one;
 * undefined for any other object.
 */
function internedSigned(d: Record<string, unknown>, parentPrefix: string, name: string, form: ListForm): string | undefined {
  const facts = internedFacts(d);
  if (facts === undefined) return undefined;
  // the usual key is the member name itself (a property name: hashed once), not a new string per sample
  const key = parentPrefix === '' && form === 'master' ? name : form + '\u0000' + parentPrefix + name;
  const known = (facts.signed ??= new Map()).get(key);
  if (known !== undefined) return known;
  // flat: a tree of joined pieces would be walked again by every sample's write
  const text = Buffer.from(signedText(d, parentPrefix + name + ':', form), 'utf8').toString('utf8');
  if (facts.signed.size < 8) facts.signed.set(key, text);
  return text;
}

export type SignatureCheck =
  | { valid: true; /** which rendering matched; 'unchecked' when the secret is empty */ form: ListForm | 'unchecked' }
  | { valid: false; reason: string };

function containsList(d: Record<string, unknown>): boolean {
  for (const v of Object.values(d)) {
    if (Array.isArray(v) || (isDict(v) && containsList(v))) return true;
  }
  return false;
}

/**
 * Whether the digests are equal, looking at every character whatever differs where (no early exit), so
 * the time taken says nothing about how much of a forged signature was right. No buffers per message.
 */
function sameDigest(expected: string, given: string): boolean {
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= codeAt(expected, i) ^ codeAt(given, i);
  return diff === 0;
}

// the answers for a valid message, shared (one per message was garbage on the hot path)
const UNCHECKED: SignatureCheck = Object.freeze({ valid: true, form: 'unchecked' });
const VALID_MASTER: SignatureCheck = Object.freeze({ valid: true, form: 'master' });
const VALID_LEGACY: SignatureCheck = Object.freeze({ valid: true, form: 'legacy' });

/**
 * Verify `message.message_signature`. Empty secret → always valid (Ceilometer's rule). Tries the
 * master rendering first, then the 7.0.0 legacy list rendering; comparison is constant-time.
 */
export function verifySignature(message: Record<string, unknown>, secret: string): SignatureCheck {
  if (!secret) return UNCHECKED;
  const given = message.message_signature;
  if (given === undefined || given === null || given === '') {
    return { valid: false, reason: 'message_signature: missing, but a telemetry secret is configured (unsigned message)' };
  }
  if (typeof given !== 'string') {
    return { valid: false, reason: `message_signature: expected a hex string, got ${typeof given === 'object' ? 'an object' : typeof given}` };
  }
  // Constant-time comparison per form. The legacy rendering differs from master's only for
  // messages containing lists, so it is only tried for those.
  if (sameDigest(computeSignature(message, secret, 'master'), given)) return VALID_MASTER;
  if (containsList(message) && sameDigest(computeSignature(message, secret, 'legacy'), given)) return VALID_LEGACY;
  return {
    valid: false,
    reason: 'message_signature: does not match the HMAC-SHA256 of the message under the configured telemetry secret (message altered in transit or signed with another secret)',
  };
}
