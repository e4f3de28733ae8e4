/**
 * Ceilometer's message signature (`ceilometer/publisher/utils.py` compute_signature /
 * verify_signature): HMAC-SHA256 keyed with `[publisher] telemetry_secret` over
 * `name1 value1 name2 value2 …` run together, keys sorted by code point at each level, nested
 * dicts flattened to `parent:child`, values rendered with Python str(), lists with Python repr
 * (strings as bytes on master, plain on 7.0.0/py3), the top-level `message_signature` skipped.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PyFloat } from './json';
import { pyStr, sortedKeys, type ListForm } from './pystr';

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
  // The HMAC of the pairs run together equals that of one string holding them all: one update, no
  // intermediate buffers (this is most of the ingestion hot path's own work).
  return hmacSha256Hex(secret, signedText(message, '', form));
}

/** One-shot hashing (Node ≥ 20.12): no Hash object per call. */
const oneShotHash = (nodeCrypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: string) => string | Buffer }).hash;
const BLOCK = 64;
/** The HMAC key blocks (key ⊕ ipad, key ⊕ opad) per secret; a deployment has one or two secrets. */
const keyPads = new Map<string, { ipad: Buffer; opad: Buffer }>();
let scratch = Buffer.allocUnsafe(16 * 1024);

function padsFor(secret: string): { ipad: Buffer; opad: Buffer } {
  let p = keyPads.get(secret);
  if (!p) {
    let key = Buffer.from(secret, 'utf8');
    if (key.length > BLOCK) key = createHash('sha256').update(key).digest();
    const ipad = Buffer.alloc(BLOCK, 0x36);
    const opad = Buffer.alloc(BLOCK, 0x5c);
    for (let i = 0; i < key.length; i++) {
      ipad[i]! ^= key[i]!;
      opad[i]! ^= key[i]!;
    }
    if (keyPads.size >= 16) keyPads.clear();
    p = { ipad, opad };
    keyPads.set(secret, p);
  }
  return p;
}

/**
 * HMAC-SHA256 (RFC 2104) of `text` (UTF-8) as hex: H(K⊕opad ‖ H(K⊕ipad ‖ text)) with two one-shot
 * hashes over a reused buffer, about three times cheaper than a crypto.Hmac object per message; the
 * same digest (checked against createHmac in the tests).
 */
export function hmacSha256Hex(secret: string, text: string): string {
  if (!oneShotHash) return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
  const { ipad, opad } = padsFor(secret);
  const max = BLOCK + text.length * 3;
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  ipad.copy(scratch, 0);
  const n = scratch.write(text, BLOCK, 'utf8');
  const inner = oneShotHash('sha256', scratch.subarray(0, BLOCK + n), 'buffer') as Buffer;
  opad.copy(scratch, 0);
  inner.copy(scratch, BLOCK);
  return oneShotHash('sha256', scratch.subarray(0, BLOCK + inner.length), 'hex') as string;
}

/** `name1 value1 name2 value2 …` as recursive_keypairs yields them, run together (top-level message_signature left out). */
function signedText(d: Record<string, unknown>, prefix: string, form: ListForm): string {
  let out = '';
  const keys = sortedKeys(d);
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i]!;
    if (prefix === '' && name === 'message_signature') continue;
    const value = d[name];
    const full = prefix === '' ? name : prefix + name;
    // the common scalars inline; everything else through pyStr
    if (typeof value === 'string') out += full + value;
    else if (value === null) out += full + 'None';
    else if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) out += full + value;
    else if (isDict(value)) out += signedText(value, full + ':', form);
    else out += full + pyStr(value, form);
  }
  return out;
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

function sameDigest(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'ascii');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verify `message.message_signature`. Empty secret → always valid (Ceilometer's rule). Tries the
 * master rendering first, then the 7.0.0 legacy list rendering; comparison is constant-time.
 */
export function verifySignature(message: Record<string, unknown>, secret: string): SignatureCheck {
  if (!secret) return { valid: true, form: 'unchecked' };
  const given = message.message_signature;
  if (given === undefined || given === null || given === '') {
    return { valid: false, reason: 'message_signature: missing, but a telemetry secret is configured (unsigned message)' };
  }
  if (typeof given !== 'string') {
    return { valid: false, reason: `message_signature: expected a hex string, got ${typeof given === 'object' ? 'an object' : typeof given}` };
  }
  // Constant-time comparison per form. The legacy rendering differs from master's only for
  // messages containing lists, so it is only tried for those.
  if (sameDigest(computeSignature(message, secret, 'master'), given)) return { valid: true, form: 'master' };
  if (containsList(message) && sameDigest(computeSignature(message, secret, 'legacy'), given)) return { valid: true, form: 'legacy' };
  return {
    valid: false,
    reason: 'message_signature: does not match the HMAC-SHA256 of the message under the configured telemetry secret (message altered in transit or signed with another secret)',
  };
}
