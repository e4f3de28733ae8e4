import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientPrincipalConfig, Role, TokenConfig } from './config';
import { parseIsoInstant } from '../lib/instant';

/** Who made a request, once their bearer token matched. */
export interface Principal {
  name: string;
  roles: ReadonlySet<Role>;
  /** When set, the principal may only see and submit data of this project. */
  project?: string;
  /** How it proved who it is: a bearer token, or a client certificate (mutual TLS). */
  via?: 'token' | 'certificate';
}

/** A client certificate's subject attributes as node's TLS socket reports them (CN, OU, O…). */
export type CertificateSubject = Record<string, string | string[] | undefined>;

export type AuthResult =
  | { ok: true; principal: Principal }
  /** `who`/`via`: who was refused, when known (a valid token without the role, an expired token, an unmapped certificate's subject): for the audit log. */
  | { ok: false; status: 401 | 403; reason: string; who?: string; via?: 'token' | 'certificate' };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Bearer-token authentication and role authorisation. Tokens are compared by SHA-256 digest with
 * timingSafeEqual, so neither the match position nor the token length leaks through timing.
 */
export class Authenticator {
  private readonly entries: Array<{ hash: Buffer; principal: Principal; expires?: number }>;
  private readonly certificates: Array<{ subject: Array<[string, string]>; principal: Principal }>;

  constructor(tokens: readonly TokenConfig[], clientPrincipals: readonly ClientPrincipalConfig[] = []) {
    this.entries = tokens.map((t) => ({
      // `sha256:<hex>` is the digest itself: the configuration never held the token
      hash: t.token.startsWith('sha256:') ? Buffer.from(t.token.slice('sha256:'.length), 'hex') : digest(t.token),
      principal: { name: t.name, roles: new Set(t.roles), via: 'token' as const, ...(t.project ? { project: t.project } : {}) },
      ...(t.expires ? { expires: parseIsoInstant(t.expires) } : {}),
    }));
    this.certificates = clientPrincipals.map((c) => ({
      subject: parseSubject(c.subject),
      principal: { name: c.name, roles: new Set(c.roles), via: 'certificate' as const, ...(c.project ? { project: c.project } : {}) },
    }));
  }

  /** Authenticate an Authorization header value and check it grants one of `anyOf` roles. */
  check(authorization: string | undefined, anyOf: readonly Role[], now = Date.now()): AuthResult {
    if (!authorization) return { ok: false, status: 401, reason: 'missing bearer token' };
    const token = presentedToken(authorization);
    if (token === undefined) return { ok: false, status: 401, reason: 'malformed Authorization header (expected "Bearer <token>")' };
    const presented = digest(token);
    let match: (typeof this.entries)[number] | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, presented)) match = e;
    if (!match) return { ok: false, status: 401, reason: 'unknown token' };
    if (match.expires !== undefined && now >= match.expires) return { ok: false, status: 401, reason: `token "${match.principal.name}" expired at ${new Date(match.expires).toISOString()}`, who: match.principal.name, via: 'token' };
    return authorize(match.principal, anyOf);
  }

  /** The principal a verified client certificate stands for (the first whose subject matches), checked against `anyOf`. */
  checkCertificate(subject: CertificateSubject, anyOf: readonly Role[]): AuthResult {
    const entry = this.certificates.find((c) => c.subject.every(([attr, value]) => subjectValues(subject, attr).includes(value)));
    if (!entry) return { ok: false, status: 401, reason: `no principal configured for client certificate ${formatSubject(subject)} (controller.tls.clientPrincipals)`, who: formatSubject(subject), via: 'certificate' };
    return authorize(entry.principal, anyOf);
  }
}

function authorize(principal: Principal, anyOf: readonly Role[]): AuthResult {
  if (principal.roles.has('admin') || anyOf.some((r) => principal.roles.has(r))) return { ok: true, principal };
  return { ok: false, status: 403, reason: `${principal.via === 'certificate' ? 'certificate' : 'token'} "${principal.name}" lacks role ${anyOf.join(' or ')}`, who: principal.name, via: principal.via ?? 'token' };
}

/** `CN=a, OU=b` → [['CN','a'], ['OU','b']] (attribute names upper-cased). */
export function parseSubject(text: string): Array<[string, string]> {
  return text.split(',').map((part) => {
    const eq = part.indexOf('=');
    return [part.slice(0, eq).trim().toUpperCase(), part.slice(eq + 1).trim()] as [string, string];
  });
}

function subjectValues(subject: CertificateSubject, attr: string): string[] {
  const v = subject[attr];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function formatSubject(subject: CertificateSubject): string {
  return Object.entries(subject)
    .flatMap(([k, v]) => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`)))
    .join(',');
}

/**
 * The token in an Authorization header: `Bearer <token>`, or `Basic base64(<name>:<token>)` because
 * Ceilometer's http:// publisher can only send credentials as URL userinfo (HTTP Basic).
 */
function presentedToken(authorization: string): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

/** May `principal` act on data of `project`? Unscoped principals may act on every project. */
export function canAccessProject(principal: Principal, project: string | null | undefined): boolean {
  return principal.project === undefined || principal.project === project;
}
