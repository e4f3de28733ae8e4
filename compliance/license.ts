import { z } from 'zod';
import { parseYaml, readYamlFile, YamlValidationError, zodIssues, type YamlIssue, type YamlSource } from '../config/yaml-source';

/**
 * A software licence (database, middleware) as the provider sold it: which instances it covers, how
 * many vCPUs, on which processors, and when. Licences are plain data; their order matters (an
 * instance is counted under the FIRST licence of its product whose `match` holds).
 */
export interface License {
  id: string;
  product: string;
  /** Every given field must hold; an empty match covers every instance of the product. */
  match: { project_id?: string; resource_ids?: string[] };
  /** vCPUs covered in total, over all matched active instances. */
  cores: number;
  cores_per_instance?: number;
  /** Required architecture of the physical host (e.g. x86_64). */
  architecture?: string;
  /** Glob patterns (`*`, `?`; case-sensitive, whole string) on the host's CPU model. */
  cpu_models?: string[];
  /** Inclusive start, `YYYY-MM-DD` (UTC midnight) or an ISO date-time; absent = no start. */
  valid_from?: string;
  /** Exclusive end, same forms; absent = no end. */
  valid_to?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** The instant a validity bound stands for (date-only = 00:00 UTC), or NaN when malformed. */
export function boundInstant(s: string): number {
  if (DATE_ONLY.test(s)) {
    const t = Date.parse(`${s}T00:00:00Z`);
    return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== s ? NaN : t;
  }
  return DATE_TIME.test(s) ? Date.parse(s) : NaN;
}

/** A date from YAML (js-yaml may hand a Date for an unquoted timestamp) or JSON, kept as written. */
const bound = z
  .union([z.string(), z.date()])
  .transform((v) => (v instanceof Date ? (v.getUTCHours() + v.getUTCMinutes() + v.getUTCSeconds() + v.getUTCMilliseconds() === 0 ? v.toISOString().slice(0, 10) : v.toISOString()) : v.trim()))
  .refine((s) => !Number.isNaN(boundInstant(s)), { message: 'expected a UTC date YYYY-MM-DD or an ISO 8601 date-time with a zone (Z or ±hh:mm)' });

const nonEmpty = z.string().trim().min(1, 'must not be empty');

export const licenseSchema = z
  .strictObject({
    id: z.string().regex(ID, 'expected 1–128 characters: letters, digits and . _ : - (starting with a letter or digit)'),
    product: nonEmpty,
    match: z
      .strictObject({
        project_id: nonEmpty.optional(),
        resource_ids: z.array(nonEmpty).min(1, 'give at least one resource id, or leave resource_ids out').optional(),
      })
      .default({}),
    cores: z.number().int('must be a whole number of vCPUs').nonnegative(),
    cores_per_instance: z.number().int('must be a whole number of vCPUs').positive().optional(),
    architecture: nonEmpty.optional(),
    cpu_models: z.array(nonEmpty).min(1, 'give at least one pattern, or leave cpu_models out').optional(),
    valid_from: bound.optional(),
    valid_to: bound.optional(),
  })
  .superRefine((l, ctx) => {
    if (l.valid_from !== undefined && l.valid_to !== undefined && boundInstant(l.valid_to) <= boundInstant(l.valid_from)) {
      ctx.addIssue({ code: 'custom', path: ['valid_to'], message: `must be after valid_from (${l.valid_from})` });
    }
  });

export const licenseFileSchema = z.strictObject({ licenses: z.array(licenseSchema) });

/** Ids used twice (reported even when other fields of the file are wrong, so one run shows every problem). */
function duplicateIds(src: YamlSource): YamlIssue[] {
  const list = (src.value as { licenses?: unknown })?.licenses;
  if (!Array.isArray(list)) return [];
  const seen = new Map<string, number>();
  const out: YamlIssue[] = [];
  list.forEach((l, i) => {
    const id = (l as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') return;
    const first = seen.get(id);
    if (first !== undefined) out.push(src.issue(['licenses', i, 'id'], `duplicate licence id "${id}" (first at licenses[${first}]); ids are unique`));
    else seen.set(id, i);
  });
  return out;
}

/** Drop undefined keys so a licence compares, hashes and stores the same however it was written. */
export function normalizeLicense(l: z.output<typeof licenseSchema>): License {
  const out: License = { id: l.id, product: l.product, match: {}, cores: l.cores };
  if (l.match.project_id !== undefined) out.match.project_id = l.match.project_id;
  if (l.match.resource_ids !== undefined) out.match.resource_ids = [...l.match.resource_ids];
  if (l.cores_per_instance !== undefined) out.cores_per_instance = l.cores_per_instance;
  if (l.architecture !== undefined) out.architecture = l.architecture;
  if (l.cpu_models !== undefined) out.cpu_models = [...l.cpu_models];
  if (l.valid_from !== undefined) out.valid_from = l.valid_from;
  if (l.valid_to !== undefined) out.valid_to = l.valid_to;
  return out;
}

function fromSource(src: YamlSource): License[] {
  if (src.value === undefined || src.value === null) {
    throw new YamlValidationError([{ file: src.file, line: 1, path: '', message: 'empty licence file (expected `licenses:` with a list of licences)' }]);
  }
  const result = licenseFileSchema.safeParse(src.value);
  const issues = [...(result.success ? [] : zodIssues(src, result.error.issues, licenseFileSchema)), ...duplicateIds(src)].sort((a, b) => a.line - b.line);
  if (issues.length || !result.success) throw new YamlValidationError(issues);
  return result.data.licenses.map(normalizeLicense);
}

/** Parse `licenses.yaml` text; every problem is reported as `file:line: path: message` (YamlValidationError). */
export function parseLicenses(text: string, file: string): License[] {
  return fromSource(parseYaml(text, file));
}

/** Read and validate a licence file (YamlValidationError with file:line issues on bad input). */
export function readLicenses(file: string): License[] {
  return fromSource(readYamlFile(file));
}

/** Validate one licence given as JSON (e.g. a POST body); the issues name the field. */
export function validateLicense(value: unknown): { ok: true; license: License } | { ok: false; issues: Array<{ path: string; message: string }> } {
  const r = licenseSchema.safeParse(value);
  if (r.success) return { ok: true, license: normalizeLicense(r.data) };
  return { ok: false, issues: r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message })) };
}

const globCache = new Map<string, RegExp>();

/** Does `value` match the glob `pattern` (`*` any run, `?` one character; case-sensitive, whole string)? */
export function globMatch(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    let src = '';
    for (const ch of pattern) src += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
    re = new RegExp(`^${src}$`, 'su');
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re.test(value);
}

/** Is T inside the licence's validity [valid_from, valid_to)? */
export function validAt(l: License, at: Date): boolean {
  const t = at.getTime();
  if (l.valid_from !== undefined && t < boundInstant(l.valid_from)) return false;
  if (l.valid_to !== undefined && t >= boundInstant(l.valid_to)) return false;
  return true;
}

/** Does the licence's `match` hold for an instance of its product? */
export function matches(l: License, instance: { resource_id: string; project_id: string | null }): boolean {
  if (l.match.project_id !== undefined && l.match.project_id !== instance.project_id) return false;
  if (l.match.resource_ids !== undefined && !l.match.resource_ids.includes(instance.resource_id)) return false;
  return true;
}

export type { YamlIssue };
