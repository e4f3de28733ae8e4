import { z } from 'zod';

/**
 * `monitor:` section of metering.yaml: the pipeline watching itself (docs/console.md, "Pipeline
 * metrics" and "Reconciliation"). Every field has a default.
 */
export const monitorConfig = z
  .strictObject({
    /** Keep the ledger of stored samples per resource and hour that the reconciliation compares the store with (default true). */
    ledger: z.boolean().default(true),
    /** How often the ledger's counts are written to the `ingest_ledger` collection, milliseconds (default 1000; also on shutdown). */
    ledgerFlushMs: z.number().int().positive().default(1000),
    /** A ledger document (one per resource and hour) expires this many days after its count last changed (TTL index on `updated_at`; default 93). Reconcile hours whose samples arrived within that time. */
    ledgerRetentionDays: z.number().int().positive().default(93),
    /** Kafka consumer lag is read from the broker at most this often, seconds (default 5). */
    lagCacheSeconds: z.number().positive().default(5),
    /** Per-transport rates are averaged over this many seconds (default 60; the rate history covers 10 minutes). */
    rateWindowSeconds: z.number().int().min(10).max(600).default(60),
    /** Reconciliation: the longest window one run may cover, hours (default 744 = 31 days). */
    reconcileMaxHours: z.number().int().positive().default(744),
    /** Reconciliation: differing (resource, hour) rows listed at most; the totals count every row (default 1000). */
    reconcileMaxRows: z.number().int().positive().default(1000),
  })
  .prefault({});

export type MonitorConfig = z.output<typeof monitorConfig>;
