import { createHash } from 'node:crypto';
import { ObjectId, type Collection, type Db } from 'mongodb';
import { isDuplicateKeyError as isDuplicate } from '../pipeline/store/bulk-errors';
import type { License } from './license';

/**
 * Licence records in the store, immutable: the `licenses` collection is insert-only. A change is a new
 * version (1, 2, …) with who recorded it and when; the unique index on (id, version) means no version
 * is ever written twice, and no code path updates or deletes a record. Each record carries the
 * SHA-256 of its licence and of itself chained to the previous version's, so a record changed or
 * removed behind the product's back (by hand in the database) shows up in `verify`.
 *
 * The order of licences (which one an instance counts under first) is the order in which their ids
 * were first recorded (`origin`, the ObjectId given to version 1).
 */

export const LICENSES_COLLECTION = 'licenses';
export const LICENSE_VERSION_INDEX = 'license_id_version_unique';

export interface LicenseRecord {
  _id: string;
  id: string;
  version: number;
  license: License;
  /** SHA-256 (hex) of the licence's canonical JSON. */
  hash: string;
  /** `record_hash` of the previous version; null for version 1. */
  prev_hash: string | null;
  /** SHA-256 (hex) over id, version, hash, prev_hash, created_by and created_at. */
  record_hash: string;
  created_by: string;
  created_at: Date;
  /** Hex ObjectId given to version 1 and copied to every later version: the licence's place in the order. */
  origin: string;
}

/** JSON with object keys sorted, so the same licence always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v instanceof Date ? v.toISOString() : v);
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
export const licenseHash = (l: License): string => sha256(canonicalJson(l));
const recordHash = (r: Pick<LicenseRecord, 'id' | 'version' | 'hash' | 'prev_hash' | 'created_by' | 'created_at'>): string =>
  sha256(canonicalJson({ id: r.id, version: r.version, hash: r.hash, prev_hash: r.prev_hash, created_by: r.created_by, created_at: r.created_at.toISOString() }));

/** A record as routes return it (dates as ISO strings, no Mongo `_id`). */
export function recordJson(r: LicenseRecord) {
  return { id: r.id, version: r.version, license: r.license, hash: r.hash, prev_hash: r.prev_hash, record_hash: r.record_hash, created_by: r.created_by, created_at: r.created_at.toISOString() };
}

export interface ChainCheck {
  ok: boolean;
  problems: string[];
}

/** Check one licence's versions (ascending): contiguous from 1, every hash recomputes, each chained to the one before. */
export function verifyChain(versions: readonly LicenseRecord[]): ChainCheck {
  const problems: string[] = [];
  versions.forEach((r, i) => {
    const where = `${r.id} v${r.version}`;
    if (r.version !== i + 1) problems.push(`${where}: expected version ${i + 1} (a version is missing)`);
    if (licenseHash(r.license) !== r.hash) problems.push(`${where}: the licence does not match its hash (changed after it was recorded)`);
    if (r.prev_hash !== (i === 0 ? null : versions[i - 1]!.record_hash)) problems.push(`${where}: not chained to the previous version`);
    if (recordHash(r) !== r.record_hash) problems.push(`${where}: the record does not match its hash (changed after it was recorded)`);
  });
  return { ok: problems.length === 0, problems };
}


export class LicenseRepository {
  readonly coll: Collection<LicenseRecord>;

  constructor(db: Db) {
    this.coll = db.collection<LicenseRecord>(LICENSES_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.coll.createIndex({ id: 1, version: 1 }, { unique: true, name: LICENSE_VERSION_INDEX });
    await this.coll.createIndex({ origin: 1, version: 1 }, { name: 'license_origin' });
  }

  /**
   * Record a licence: version 1 when its id is new, the next version when it differs from the latest,
   * nothing when it equals the latest (`created: false`: recording the same licence twice is harmless).
   * Two writers racing for the same version: the unique index lets one win, the other re-reads and retries.
   */
  async record(license: License, by: string, now = new Date()): Promise<{ record: LicenseRecord; created: boolean }> {
    const hash = licenseHash(license);
    for (let attempt = 0; attempt < 10; attempt++) {
      const latest = await this.latestOf(license.id);
      if (latest && latest.hash === hash) return { record: latest, created: false };
      const version = (latest?.version ?? 0) + 1;
      const base = { id: license.id, version, hash, prev_hash: latest?.record_hash ?? null, created_by: by, created_at: now };
      const record: LicenseRecord = { _id: `${license.id}#${version}`, ...base, license, record_hash: recordHash(base), origin: latest?.origin ?? new ObjectId().toHexString() };
      try {
        await this.coll.insertOne(record);
        return { record, created: true };
      } catch (err) {
        if (!isDuplicate(err)) throw err;
      }
    }
    throw new Error(`licence ${license.id}: could not record a new version (10 concurrent writers won the race)`);
  }

  /**
   * Record a licence from a source such as the licence file (`by` = `file:<path>`): only when it differs
   * from what that source recorded last, so a version recorded since through the API is not overridden
   * at every start by an unchanged file. An edited file still records a new version.
   */
  async recordFrom(license: License, by: string, now = new Date()): Promise<{ record: LicenseRecord; created: boolean }> {
    const fromSource = await this.coll.find({ id: license.id, created_by: by }).sort({ version: -1 }).limit(1).next();
    if (fromSource && fromSource.hash === licenseHash(license)) return { record: (await this.latestOf(license.id)) ?? fromSource, created: false };
    return this.record(license, by, now);
  }

  async latestOf(id: string): Promise<LicenseRecord | undefined> {
    return (await this.coll.find({ id }).sort({ version: -1 }).limit(1).next()) ?? undefined;
  }

  async versions(id: string): Promise<LicenseRecord[]> {
    return this.coll.find({ id }).sort({ version: 1 }).toArray();
  }

  /** The latest version of every licence, in licence order (first recorded first). */
  async latest(): Promise<LicenseRecord[]> {
    const out = new Map<string, LicenseRecord>();
    for await (const r of this.coll.find({}).sort({ origin: 1, version: 1 })) out.set(r.id, r);
    return [...out.values()];
  }
}
