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
import { pyStr, sortedKeys, type ListForm } from './pystr';
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
  // The HMAC of the pairs run together equals that of their bytes in one buffer: the pieces are written
  // (strings) or copied (the kept bytes of interned metadata) after the key block, then hashed at once.
  const pieces: Array<string | Buffer> = [];
  signedPieces(message, '', form, pieces);
  if (!oneShotHash) return createHmac('sha256', secret).update(joinPieces(pieces), 'utf8').digest('hex');
  return hmacPieces(secret, pieces);
}

/** One-shot hashing (Node ≥ 20.12): no Hash object per call. */
const oneShotHash = (nodeCrypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: string) => string | Buffer }).hash;
const BLOCK = 64;
/**
 * Per secret, two buffers that start with the HMAC key blocks: `inner` = K⊕ipad followed by room for the
 * message, `outer` = K⊕opad followed by the 32 bytes of the inner digest. A deployment has one or two secrets.
 */
interface KeyBlocks {
  inner: Buffer;
  outer: Buffer;
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
    b = { inner, outer };
    keyBlocks.set(secret, b);
  }
  return b;
}

/** Room for `more` bytes after `at` in the inner block buffer (what is already written is kept). */
function room(b: KeyBlocks, at: number, more: number): void {
  if (b.inner.length >= at + more) return;
  const grown = Buffer.allocUnsafe(Math.max(at + more, b.inner.length * 2));
  b.inner.copy(grown, 0, 0, at);
  b.inner = grown;
}

/**
 * HMAC-SHA256 (RFC 2104) of the pieces run together (strings as UTF-8, buffers as they are) as hex:
 * H(K⊕opad ‖ H(K⊕ipad ‖ pieces)) with two one-shot hashes over buffers that already hold the key blocks,
 * about three times cheaper than a crypto.Hmac object per message; the same digest (checked against
 * createHmac in the tests). The inner digest comes back as latin1 text and is written after the outer
 * key block as such: a 'buffer' digest costs about as much as hashing 1 KB.
 */
function hmacPieces(secret: string, pieces: ReadonlyArray<string | Buffer>): string {
  const b = blocksFor(secret);
  let at = BLOCK;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (typeof p === 'string') {
      room(b, at, p.length * 3);
      at += b.inner.write(p, at, 'utf8');
    } else {
      room(b, at, p.length);
      at += p.copy(b.inner, at);
    }
  }
  const inner = oneShotHash!('sha256', b.inner.subarray(0, at), 'latin1') as string;
  b.outer.write(inner, BLOCK, 32, 'latin1');
  return oneShotHash!('sha256', b.outer, 'hex') as string;
}

/** HMAC-SHA256 of `text` (UTF-8) as hex (see hmacPieces). */
export function hmacSha256Hex(secret: string, text: string): string {
  if (!oneShotHash) return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
  return hmacPieces(secret, [text]);
}

function joinPieces(pieces: ReadonlyArray<string | Buffer>): string {
  let out = '';
  for (const p of pieces) out += typeof p === 'string' ? p : p.toString('utf8');
  return out;
}

/**
 * `name1 value1 name2 value2 …` as recursive_keypairs yields them, run together (top-level
 * message_signature left out), as pieces: strings, and the kept UTF-8 bytes of interned metadata.
 */
function signedPieces(d: Record<string, unknown>, prefix: string, form: ListForm, pieces: Array<string | Buffer>): void {
  let out = '';
  const keys = sortedKeys(d);
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i]!;
    if (prefix === '' && name === 'message_signature') continue;
    const value = d[name];
    // the common scalars inline; everything else through pyStr
    if (typeof value === 'string') out += (prefix === '' ? name : prefix + name) + value;
    else if (value === null) out += (prefix === '' ? name : prefix + name) + 'None';
    else if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) out += (prefix === '' ? name : prefix + name) + value;
    else if (isDict(value)) {
      if (out !== '') pieces.push(out);
      out = '';
      const kept = internedSigned(value, prefix, name, form);
      if (kept !== undefined) pieces.push(kept);
      else signedPieces(value, prefix + name + ':', form, pieces);
    } else out += (prefix === '' ? name : prefix + name) + pyStr(value, form);
  }
  if (out !== '') pieces.push(out);
}

/**
 * The signed bytes of an interned (frozen, shared) metadata object under `prefix + name + ':'`, worked
 * out once and kept with it (interned.ts), since every sample of the resource carries the same one;
 * undefined for any other object.
 */
function internedSigned(d: Record<string, unknown>, parentPrefix: string, name: string, form: ListForm): Buffer | undefined {
  const facts = internedFacts(d);
  if (facts === undefined) return undefined;
  // the usual key is the member name itself (a property name: hashed once), not a new string per sample
  const key = parentPrefix === '' && form === 'master' ? name : form + '\u0000' + parentPrefix + name;
  const known = (facts.signed ??= new Map()).get(key);
  if (known !== undefined) return known;
  const pieces: Array<string | Buffer> = [];
  signedPieces(d, parentPrefix + name + ':', form, pieces);
  const bytes = Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  if (facts.signed.size < 8) facts.signed.set(key, bytes);
  return bytes;
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
