import { readFileSync } from 'node:fs';

/**
 * Which settings hold secrets, by key name wherever they appear: their values are redacted whenever
 * configuration is printed or logged, and they may be written as `file:/path` (the file's content,
 * trailing newline removed: mounted secrets) besides `${ENV_VAR}` (which every string accepts).
 * Connection strings (`uri`, `url`, `advertise_redis_url`) count: they may carry credentials.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['token', 'telemetrySecret', 'password', 'uri', 'url', 'webhookSecret', 'advertise_redis_url']);

/** Settings printed as `<redacted>` whole (the connection strings only lose their password). */
export const OPAQUE_SECRET_KEYS: ReadonlySet<string> = new Set(['token', 'telemetrySecret', 'password', 'webhookSecret']);

export const FILE_PREFIX = 'file:';

/** The value of a `file:/path` secret, or a sentence saying why it cannot be read. */
export function readSecretFile(value: string): { value: string } | { error: string } {
  const file = value.slice(FILE_PREFIX.length);
  if (!file.startsWith('/')) return { error: `file: secrets need an absolute path (got ${JSON.stringify(file)})` };
  try {
    return { value: readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
  } catch (err) {
    return { error: `cannot read secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** Query parameters of a URL that carry secrets by their name (`?token=…`, `tlsCertificateKeyFilePassword=…`, `sig=…`). */
const SECRET_QUERY_PARAM = /([?&](?:[^=&#\s]*(?:token|secret|password|passwd|pwd|key|sig|signature|authorization|credential)[^=&#\s]*))=([^&#\s]*)/gi;

/**
 * Credentials inside a connection string or URL replaced by <redacted>: the password of
 * `scheme://user:password@host`, and query values whose parameter names a secret (a webhook's
 * `?token=`, MongoDB's `tlsCertificateKeyFilePassword=`); other query options (`tls=true`) stay readable.
 */
export function redactUrlCredentials(text: string): string {
  const out = text.replace(/\/\/([^/@:\s]*):([^/@\s]+)@/g, '//$1:<redacted>@');
  return out.includes('://') ? out.replace(SECRET_QUERY_PARAM, '$1=<redacted>') : out;
}

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** A configuration tree with every secret replaced, for printing and logging (only plain objects and arrays are walked; errors, dates and class instances pass as they are). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === 'object' && isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, OPAQUE_SECRET_KEYS.has(k) && typeof v === 'string' && v !== '' ? '<redacted>' : redactSecrets(v)]),
    );
  }
  if (typeof value === 'string') return redactUrlCredentials(value);
  return value;
}
