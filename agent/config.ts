import { z } from 'zod';

/**
 * `agent:` section of metering.yaml: the host agent (`metering agent run`, one per host) and the
 * controller's side of request/reply by resource id. Every key has a default; see docs/agent.md.
 */

const positive = z.number().positive();
const positiveInt = z.number().int().positive();

/** The host side: polling, window aggregation, the local raw store, the spool. */
export const agentHostConfig = z
  .strictObject({
    /** Seconds between polls of /proc, /sys, libvirt and cgroups (default 10). `--interval` overrides. */
    interval_s: positive.default(10),
    /** Seconds per aggregation window: one sample per metric per window is published (default 60). `--window` overrides. */
    window_s: positive.default(60),
    /** Also poll and publish CPU utilisation per core (`<host>.cpu<N>`), default false. */
    per_core: z.boolean().default(false),
    /** Seconds between re-discoveries (new disks, interfaces, VMs, cgroups), default 60. */
    rediscover_s: positive.default(60),
    /** Directory of the local raw store and the spool (default `.cache/agent`, git-ignored). */
    data_dir: z.string().min(1).default('.cache/agent'),
    /** Raw polls older than this are deleted from the local store (default 86400 s = 1 day). */
    raw_retention_s: positive.default(86_400),
    /** Upper bound of the local raw store on disk; oldest segments go first (default 256 MiB). */
    raw_max_bytes: positiveInt.default(256 * 1024 * 1024),
    /** A raw-store segment file is closed after this many bytes (default 4 MiB); retention deletes whole segments. */
    raw_segment_bytes: positiveInt.default(4 * 1024 * 1024),
    /** A raw-store segment file is closed after this many seconds (default 3600). */
    raw_segment_s: positive.default(3600),
    /** fdatasync the local raw store at most every this many seconds (default 5; 0 = on every poll). The spool fsyncs every batch. */
    fsync_s: z.number().nonnegative().default(5),
    /** Upper bound of the spool of unsent window samples on disk; when reached the OLDEST batches are dropped and counted (default 64 MiB). */
    spool_max_bytes: positiveInt.default(64 * 1024 * 1024),
    /** Seconds between attempts to send the spool while the destination is unreachable (default 5). */
    retry_s: positive.default(5),
    /** Seconds between heartbeats to the controller (default 15). */
    heartbeat_s: positive.default(15),
    /** Ceilometer `source` of published samples (default `metering-agent`). */
    source: z.string().min(1).default('metering-agent'),
    /** Seconds a `virsh` call may take before it is abandoned (default 5). */
    virsh_timeout_s: positive.default(5),
    /** PEM CA an https:// controller's certificate chains to (default '': the system's CAs). `--ca` overrides. */
    tls_ca: z.string().default(''),
    /** PEM client certificate for a controller with mutual TLS (controller.tls.clientAuth); its subject maps to a principal (default '': none). `--cert` overrides. */
    tls_cert: z.string().default(''),
    /** PEM private key of tls_cert (default ''). `--key` overrides. */
    tls_key: z.string().default(''),
  })
  .prefault({});

/** The controller side: registration, heartbeats and request/reply through Redis. */
export const agentControllerConfig = z
  .strictObject({
    /** Enable the agent routes and the request broker on the controller (needs redis.url), default true. */
    enabled: z.boolean().default(true),
    /** Prefix of the Redis channels (`<prefix>:req:<host>`, `<prefix>:reply:<controller>`, `<prefix>:heartbeat`), default `metering-agent`. */
    channel_prefix: z.string().min(1).default('metering-agent'),
    /** Milliseconds a request to an agent may take before the route answers 504 naming the host (default 3000). */
    request_timeout_ms: positiveInt.default(3000),
    /** An agent without a heartbeat for this many heartbeat periods is considered gone (default 3). */
    missed_heartbeats: positiveInt.default(3),
    /** Requests in flight to agents at once, over all routes (default 1000); more are refused with 503. */
    max_in_flight: positiveInt.default(1000),
    /** Most raw points one answer may carry; the agent thins (keeps every k-th point, always the last) beyond it (default 10000). */
    max_points: positiveInt.default(10_000),
    /** Most hosts one GET /v1/hosts/series may fan out to (default 100). */
    max_hosts: positiveInt.default(100),
    /**
     * Redis URL handed to agents at registration: give agents a Redis ACL user of their own, limited to
     * the agent channels (docs/agent.md, "Redis access of the agents"). Default: redis.url of this
     * configuration, but only when it carries no user name or password; the controller's own Redis
     * credentials (which open the billing job queues too) are never handed to an agent.
     */
    advertise_redis_url: z.string().optional(),
  })
  .prefault({});

export const agentConfig = z
  .strictObject({
    /** The host agent (`metering agent run`). */
    host: agentHostConfig,
    /** The controller's side (routes, registry, request broker). */
    controller: agentControllerConfig,
  })
  .prefault({});

export type AgentConfig = z.output<typeof agentConfig>;
export type AgentHostConfig = z.output<typeof agentHostConfig>;
export type AgentControllerConfig = z.output<typeof agentControllerConfig>;

/**
 * The Redis URL a registering agent is given: `advertise_redis_url` when set; else the controller's own
 * `redis.url` only when it holds no credentials (an agent holding them could read and change every
 * queue of the controller's Redis, billing jobs included). `why` when there is none to give.
 */
export function agentRedisUrl(config: Pick<AgentControllerConfig, 'advertise_redis_url'>, redisUrl: string): { url: string } | { why: string } {
  if (config.advertise_redis_url !== undefined) return { url: config.advertise_redis_url };
  let credentials = true;
  try {
    const u = new URL(redisUrl);
    credentials = u.username !== '' || u.password !== '';
  } catch {
    // not a URL: hand nothing over rather than guess
  }
  if (!credentials) return { url: redisUrl };
  return {
    why: 'agent.controller.advertise_redis_url is not set and redis.url carries credentials, which are not handed to agents: set advertise_redis_url to a Redis user limited to the agent channels (docs/agent.md)',
  };
}
