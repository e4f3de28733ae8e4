import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role, TokenConfig } from './config';

/** Who made a request, once their bearer token matched. */
export interface Principal {
  name: string;
  roles: ReadonlySet<Role>;
  /** When set, the principal may only see and submit data of this project. */
  project?: string;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403; reason: string };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Bearer-token authentication and role authorisation. Tokens are compared by SHA-256 digest with
 * timingSafeEqual, so neither the match position nor the token length leaks through timing.
 */
export class Authenticator {
  private readonly entries: Array<{ hash: Buffer; principal: Principal }>;

  constructor(tokens: readonly TokenConfig[]) {
    this.entries = tokens.map((t) => ({
      hash: digest(t.token),
      principal: { name: t.name, roles: new Set(t.roles), ...(t.project ? { project: t.project } : {}) },
    }));
  }

  /** Authenticate an Authorization header value and check it grants one of `anyOf` roles. */
  check(authorization: string | undefined, anyOf: readonly Role[]): AuthResult {
    if (!authorization) return { ok: false, status: 401, reason: 'missing bearer token' };
    const token = presentedToken(authorization);
    if (token === undefined) return { ok: false, status: 401, reason: 'malformed Authorization header (expected "Bearer <token>")' };
    const presented = digest(token);
    let principal: Principal | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, presented)) principal = e.principal;
    if (!principal) return { ok: false, status: 401, reason: 'unknown token' };
    if (principal.roles.has('admin') || anyOf.some((r) => principal!.roles.has(r))) return { ok: true, principal };
    return { ok: false, status: 403, reason: `token "${principal.name}" lacks role ${anyOf.join(' or ')}` };
  }
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
