import { z } from 'zod';

export const ROLES = ['admin', 'ingest', 'read'] as const;
export type Role = (typeof ROLES)[number];

const token = z.strictObject({
  /** Who holds the token; appears in logs and metrics instead of the token itself. */
  name: z.string().min(1),
  /** The bearer token. Keep it out of the file: write `${METERING_ADMIN_TOKEN}` to read it from the environment. */
  token: z.string().min(16, 'tokens must be at least 16 characters'),
  /** Roles granted: admin (everything), ingest (submit samples), read (queries, predictions, reports). */
  roles: z.array(z.enum(ROLES)).min(1),
  /** Optional project scope: the token only sees and submits data of this project id. */
  project: z.string().min(1).optional(),
});
export type TokenConfig = z.output<typeof token>;

/** The system controller: one HTTP server that every capability mounts its routes on. */
export const controllerConfig = z
  .strictObject({
    /** Address to bind. Default 127.0.0.1 (put a TLS-terminating proxy in front for remote callers). */
    host: z.string().default('127.0.0.1'),
    /** TCP port. Default 8777 (Ceilometer API's historical port). 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(8777),
    /** Largest request body accepted, in bytes (bigger bodies get 413). Default 10 MiB. */
    bodyLimitBytes: z.number().int().positive().default(10 * 1024 * 1024),
    /** Serve /metrics without a token (for scrapers on a private network). Default false: role read. */
    publicMetrics: z.boolean().default(false),
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
    /** Connection URL. Environment override: REDIS_URL. */
    url: z
      .string()
      .refine((v) => /^rediss?:\/\/[^\s]*$/.test(v) && URL.canParse(v), 'expected a redis://host:port[/db] (or rediss://) URL')
      .default('redis://127.0.0.1:6379'),
    /** Prefix of every BullMQ key, so several deployments can share one Redis. */
    prefix: z.string().default('metering'),
  })
  .prefault({});
