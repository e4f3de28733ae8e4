import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * `cluster:` section of metering.yaml: running several controllers against the same store, Kafka
 * topics and Redis. Each controller registers itself (a heartbeat in MongoDB), and the jobs that must
 * run once across all of them (the scaler's control loop, the billing cycle, the late-data check) run
 * only on the holder of their lease, fenced by a token. Off by default: one controller leads everything.
 * See docs/cluster.md.
 */
export const clusterConfig = z
  .strictObject({
    /**
     * Take part in a cluster of controllers (default false: this controller runs every singleton job
     * itself, as a single controller always did). Turn it on for every controller of a deployment.
     */
    enabled: z.boolean().default(false),
    /**
     * This controller's id in `GET /v1/cluster/controllers`, the leases and the fences. Default
     * `<hostname>-<pid>`. Must be unique per running controller.
     */
    id: z.string().min(1).max(200).regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only').optional(),
    /**
     * The address other controllers and operators reach this controller at (shown in the
     * controller list). Default `http://<hostname>:<controller.port>`.
     */
    advertiseUrl: z.string().url().optional(),
    /**
     * How long a lease holds without renewal, in milliseconds (default 15000). The holder stops acting
     * before this has passed since its last successful renewal (by its own monotonic clock); another
     * controller takes the lease over only after it has seen the lease unchanged this long (by its
     * own clock). No wall clocks are compared across hosts.
     */
    leaseTtlMs: z.number().int().min(200).max(600_000).default(15_000),
    /**
     * How often the holder renews its leases and the others look at them, in milliseconds (default
     * 3000; at most a third of leaseTtlMs, so two renewals may fail before the lease lapses). A dead
     * leader is replaced within leaseTtlMs + 2 × renewIntervalMs; one that shuts down cleanly releases
     * its leases, and another takes over within renewIntervalMs.
     */
    renewIntervalMs: z.number().int().min(50).max(200_000).default(3_000),
    /**
     * Safety margin in milliseconds (default 1000): the holder stops acting this long before its lease
     * could lapse, covering clock-rate drift between hosts and the time a renewal spends in flight. An
     * action also needs this much of the hold left after its fence write, or it is refused (so
     * leaseTtlMs − renewIntervalMs − guardMs must exceed guardMs).
     */
    guardMs: z.number().int().min(0).max(60_000).default(1_000),
    /** How often each controller writes its heartbeat, in milliseconds (default 5000). */
    heartbeatIntervalMs: z.number().int().min(50).max(600_000).default(5_000),
    /** A controller whose heartbeat is older than this (milliseconds, by the store's clock) is listed as not alive (default 20000). */
    memberTtlMs: z.number().int().min(100).max(3_600_000).default(20_000),
  })
  .prefault({})
  .superRefine((c, ctx) => {
    if (c.renewIntervalMs * 3 > c.leaseTtlMs) {
      ctx.addIssue({ code: 'custom', path: ['renewIntervalMs'], message: `must be at most a third of leaseTtlMs (${c.leaseTtlMs}): two renewals may fail before the lease lapses` });
    }
    if (c.guardMs * 2 >= c.leaseTtlMs) {
      ctx.addIssue({ code: 'custom', path: ['guardMs'], message: `must be less than half of leaseTtlMs (${c.leaseTtlMs})` });
    } else if (c.leaseTtlMs - c.guardMs - c.renewIntervalMs <= c.guardMs && c.renewIntervalMs * 3 <= c.leaseTtlMs) {
      // fence() wants guardMs of the hold left after its write; a leader renewing on time must always have it
      ctx.addIssue({ code: 'custom', path: ['guardMs'], message: `leaseTtlMs (${c.leaseTtlMs}) − renewIntervalMs (${c.renewIntervalMs}) − guardMs must exceed guardMs: an action needs guardMs of the lease left, and a leader renewing on time must always have that` });
    }
    if (c.heartbeatIntervalMs * 2 > c.memberTtlMs) {
      ctx.addIssue({ code: 'custom', path: ['memberTtlMs'], message: `must be at least twice heartbeatIntervalMs (${c.heartbeatIntervalMs})` });
    }
  });

export type ClusterConfig = z.output<typeof clusterConfig>;

/** The jobs that must run once across all controllers, each with its own lease. */
export const SINGLETON_ROLES = ['scaler', 'billing-cycle', 'late-data', 'compliance'] as const;
export type SingletonRole = (typeof SINGLETON_ROLES)[number];

/** This controller's id: cluster.id, else `<hostname>-<pid>`. */
export function controllerId(config: ClusterConfig): string {
  return config.id ?? `${hostname()}-${process.pid}`;
}
