import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseIsoInstant } from '../lib/instant';

export const ROLES = ['admin', 'ingest', 'read'] as const;
export type Role = (typeof ROLES)[number];

const SHA256_TOKEN = /^sha256:[0-9a-f]{64}$/;

/** An ISO 8601 date or date-time (UTC when it names no offset). */
const instant = z.string().refine((v) => !Number.isNaN(parseIsoInstant(v)), {
  message: 'expected an ISO 8601 date or date-time, e.g. 2027-01-01 or 2027-01-01T00:00:00Z',
});

const token = z.strictObject({
  /** Who holds the token; appears in logs, metrics and the audit log instead of the token itself. */
  name: z.string().min(1),
  /**
   * The bearer token (at least 16 characters), or `sha256:<64 lowercase hex>`: its SHA-256 digest, so the
   * file never holds the token itself (`metering token hash` prints it). Like every secret setting it may
   * be `${ENV_VAR}` or `file:/path/to/secret` (e.g. a mounted secret).
   */
  token: z.string().refine((t) => (t.startsWith('sha256:') ? SHA256_TOKEN.test(t) : t.length >= 16), {
    message: 'tokens must be at least 16 characters, or sha256:<64 lowercase hex digits> (the token\'s SHA-256 digest)',
  }),
  /** Roles granted: admin (everything), ingest (submit samples), read (queries, predictions, reports). */
  roles: z.array(z.enum(ROLES)).min(1),
  /** Optional project scope: the token only sees and submits data of this project id. */
  project: z.string().min(1).optional(),
  /** Optional expiry (ISO 8601; UTC when no offset is given): from then on the token is refused (401 "token expired"). */
  expires: instant.optional(),
});
export type TokenConfig = z.output<typeof token>;

const clientPrincipal = z.strictObject({
  /**
   * Which client certificates this principal stands for: `CN=agent-7` or several attributes
   * `CN=agent-7,OU=agents,O=metering`; every attribute given must equal the certificate subject's.
   */
  subject: z.string().regex(/^\s*[A-Za-z]+=[^,]+(\s*,\s*[A-Za-z]+=[^,]+)*\s*$/, 'expected ATTR=value[,ATTR=value…], e.g. CN=agent-7,OU=agents'),
  /** Name in logs and the audit log. */
  name: z.string().min(1),
  roles: z.array(z.enum(ROLES)).min(1),
  /** Optional project scope, as for tokens. */
  project: z.string().min(1).optional(),
});
export type ClientPrincipalConfig = z.output<typeof clientPrincipal>;

/** HTTPS for the controller (off unless cert and key are set). */
export const tlsConfig = z
  .strictObject({
    /** PEM certificate (with its chain) of the controller. Setting `cert` and `key` turns HTTPS on; plain HTTP is then refused. */
    cert: z.string().min(1).optional(),
    /** PEM private key of `cert`. */
    key: z.string().min(1).optional(),
    /** PEM CA bundle client certificates must chain to (required when clientAuth is request or require). */
    ca: z.string().min(1).optional(),
    /**
     * Client certificates: `none`; `request` (asked for, optional: a valid one authenticates like a token);
     * `require` (mutual TLS: connections without a certificate from `ca` are refused in the handshake).
     */
    clientAuth: z.enum(['none', 'request', 'require']).default('none'),
    /** Principals for client certificate subjects (e.g. host agents): roles and project scope, as tokens have. */
    clientPrincipals: z.array(clientPrincipal).default([]),
    /** Reload cert, key and CA when their files change (they are also reloaded on SIGHUP), without a restart. */
    watch: z.boolean().default(true),
  })
  .prefault({})
  .superRefine((t, ctx) => {
    if (Boolean(t.cert) !== Boolean(t.key)) ctx.addIssue({ code: 'custom', path: [t.cert ? 'key' : 'cert'], message: 'cert and key go together: set both to turn HTTPS on, or neither' });
    if (t.clientAuth !== 'none' && !t.ca) ctx.addIssue({ code: 'custom', path: ['ca'], message: `clientAuth: ${t.clientAuth} needs ca (the CA bundle client certificates must chain to)` });
    if (t.clientAuth !== 'none' && !t.cert) ctx.addIssue({ code: 'custom', path: ['clientAuth'], message: 'client certificates need HTTPS: set cert and key' });
    for (const field of ['cert', 'key', 'ca'] as const) {
      const file = t[field];
      if (file && !existsSync(file)) ctx.addIssue({ code: 'custom', path: [field], message: `file not found: ${file}` });
    }
  });
export type TlsConfig = z.output<typeof tlsConfig>;


/** The system controller: one HTTP server that every capability mounts its routes on. */
export const controllerConfig = z
  .strictObject({
    /** Address to bind. Default 127.0.0.1 (turn on `tls` before binding other addresses). */
    host: z.string().default('127.0.0.1'),
    /** TCP port. Default 8777 (Ceilometer API's historical port). 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(8777),
    /** Largest request body accepted, in bytes (bigger bodies get 413). Default 10 MiB. */
    bodyLimitBytes: z.number().int().positive().default(10 * 1024 * 1024),
    /** Serve /metrics without a token (for scrapers on a private network). Default false: role read. */
    publicMetrics: z.boolean().default(false),
    /** HTTPS, with optional client certificates (mutual TLS). */
    tls: tlsConfig,
    /** Who may call the controller: bearer tokens (or HTTP Basic with the token as password) with roles. */
    auth: z
      .strictObject({
        /** Bearer tokens. Without any token every authenticated route answers 401. */
        tokens: z.array(token).default([]),
      })
      .prefault({}),
  })
  .prefault({});

/** Redis (BullMQ job queues). */
export const redisConfig = z
  .strictObject({
    /** Connection URL: redis://[user:password@]host:port[/db], or rediss:// for TLS. Environment override: REDIS_URL. */
    url: z
      .string()
      .refine((v) => /^rediss?:\/\/[^\s]*$/.test(v) && URL.canParse(v), 'expected a redis://host:port[/db] (or rediss://) URL')
      .default('redis://127.0.0.1:6379'),
    /** PEM files for rediss://: `ca` (the CA the server's certificate chains to; default the system's), `cert` and `key` (client certificate, when the server asks for one). */
    tls: z
      .strictObject({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Prefix of every BullMQ key, so several deployments can share one Redis. */
    prefix: z.string().default('metering'),
  })
  .prefault({});
