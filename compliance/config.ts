import { z } from 'zod';

/** Optional webhook that receives every compliance alert (opened and resolved) as JSON. */
export const complianceWebhookConfig = z
  .strictObject({
    /** URL alerts are POSTed to (JSON body, one alert per request); empty = no webhook (default). */
    url: z.string().default(''),
    /** Sent as `Authorization: Bearer <token>` when set (default: none); may be `${ENV_VAR}`. */
    token: z.string().default(''),
    /** Attempts per alert before it is given up (and counted as failed) (default 5). */
    max_attempts: z.number().int().positive().max(100).default(5),
    /** First retry delay in milliseconds; doubled after each failed attempt (default 500). */
    backoff_ms: z.number().int().nonnegative().default(500),
    /** Longest retry delay in milliseconds (default 30000). */
    max_backoff_ms: z.number().int().nonnegative().default(30_000),
    /** Time allowed for one delivery attempt, milliseconds (default 5000). */
    timeout_ms: z.number().int().positive().default(5000),
    /** Alerts waiting for delivery at most; when full the oldest waiting alert is dropped and counted (default 1000). */
    queue_limit: z.number().int().positive().default(1000),
  })
  .prefault({})
  .refine((w) => w.url === '' || /^https?:\/\//.test(w.url), { message: 'url must start with http:// or https:// (or be empty for no webhook)', path: ['url'] });

/**
 * `compliance:` section of metering.yaml: software licence compliance (assigned vs actual CPU type,
 * class and cores). Every field has a default, so an empty section is valid.
 */
export const complianceConfig = z
  .strictObject({
    /** Run the licence rules on the live sample stream, keep licence records and alerts (default true). */
    enabled: z.boolean().default(true),
    /**
     * Licence file (`licenses.yaml`) recorded into the store at start: a licence that is new or changed
     * in the file since it last recorded it becomes a new version recorded by `file:<path>`; nothing is
     * ever removed. A missing file is skipped with a log line (default `licenses.yaml`).
     */
    licenses_file: z.string().default('licenses.yaml'),
    /** An instance is active at T when it has a sample in (T − active_window_s, T] (default 3600 s). */
    active_window_s: z.number().positive().default(3600),
    /** Least time between two evaluations of the live rules, milliseconds; samples arriving meanwhile are folded in and evaluated together. One evaluation is O(active instances) (see `metering bench compliance`) (default 5000). */
    evaluate_interval_ms: z.number().int().nonnegative().default(5000),
    /** Samples stamped further than this in the future (seconds, by the wall clock) are ignored by the live rules, so one bad clock cannot move T (default 300). */
    max_future_skew_s: z.number().nonnegative().default(300),
    /** Rebuild the live state from the store's last active window at start, so a restart neither forgets nor re-announces violations (default true). */
    warm_start: z.boolean().default(true),
    /** Seconds between re-reading the licence records from the store (another replica may have recorded one) (default 60). */
    licenses_refresh_s: z.number().positive().default(60),
    /** Resources the live rules keep facts for at most; beyond it new resources are counted and ignored (default 200000). */
    max_resources: z.number().int().positive().default(200_000),
    /**
     * With several controllers (`cluster.enabled`): how often the holder of the `compliance` lease
     * evaluates the rules for the whole cluster from the store's active window, in milliseconds
     * (default 30000). One evaluation reads the samples of the last active_window_s (the warm start's
     * query), so keep it well above that read's time; alerts are raised at most this much later than a
     * single controller's live rules raise them. Unused by a controller on its own.
     */
    cluster_evaluate_interval_ms: z.number().int().min(100).max(3_600_000).default(30_000),
    /** Optional webhook for alerts, with retries. */
    webhook: complianceWebhookConfig,
  })
  .prefault({});

export type ComplianceConfig = z.infer<typeof complianceConfig>;
export type ComplianceWebhookConfig = z.infer<typeof complianceWebhookConfig>;
