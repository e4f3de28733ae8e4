import { z } from 'zod';

/** A Nova flavor: what a server of that flavor looks like to Ceilometer (instance metadata, disks). */
export const flavorSchema = z.strictObject({
  vcpus: z.number().int().positive(),
  ram_mb: z.number().int().positive(),
  disk_gb: z.number().int().nonnegative(),
  /** Ephemeral disk; > 0 adds a second disk device (vdb) to every server of the flavor. */
  ephemeral_gb: z.number().int().nonnegative().default(0),
  swap_mb: z.number().int().nonnegative().default(0),
});
export type Flavor = z.output<typeof flavorSchema>;

/** Nova's historical default flavors (removed from Nova in Newton, still the de-facto names). */
export const NOVA_DEFAULT_FLAVORS: Record<string, Flavor> = {
  'm1.tiny': { vcpus: 1, ram_mb: 512, disk_gb: 1, ephemeral_gb: 0, swap_mb: 0 },
  'm1.small': { vcpus: 1, ram_mb: 2048, disk_gb: 20, ephemeral_gb: 0, swap_mb: 0 },
  'm1.medium': { vcpus: 2, ram_mb: 4096, disk_gb: 40, ephemeral_gb: 0, swap_mb: 0 },
  'm1.large': { vcpus: 4, ram_mb: 8192, disk_gb: 80, ephemeral_gb: 0, swap_mb: 0 },
  'm1.xlarge': { vcpus: 8, ram_mb: 16384, disk_gb: 160, ephemeral_gb: 0, swap_mb: 0 },
};

/** Period lengths used for the per-day/week/month figures (seconds). */
export const periodsSchema = z
  .strictObject({
    /** One day: 86 400 s. */
    day_s: z.number().int().positive().default(86_400),
    /** One week: 7 days = 604 800 s. */
    week_s: z.number().int().positive().default(7 * 86_400),
    /** One month: 30 days = 2 592 000 s (a billing month, not a calendar month). */
    month_s: z.number().int().positive().default(30 * 86_400),
  })
  .prefault({});
export type Periods = z.output<typeof periodsSchema>;

/** The `estimator:` section of metering.yaml. */
export const estimatorConfig = z
  .strictObject({
    /** Flavor name → size. Default: Nova's historical m1.tiny … m1.xlarge. Replaces (not merges with) the default table. */
    flavors: z.record(z.string(), flavorSchema).default(NOVA_DEFAULT_FLAVORS),
    /**
     * Ceilometer polling.yaml (or a pre-8.0.0 combined pipeline.yaml) to read intervals from.
     * Default: none — the embedded copy of Ceilometer master's etc/ceilometer/polling.yaml (300 s).
     */
    polling_file: z.string().optional(),
    /**
     * Which Ceilometer pollster set the meters come from: `master` (current) or `legacy` (7.0.0
     * Newton, the MongoDB era). Default: master; a combined pipeline.yaml selects legacy.
     */
    catalog: z.enum(['master', 'legacy']).optional(),
    /** Meter name → bytes per stored `meter` document, overriding the built-in priors. Default: {}. */
    size_priors: z.record(z.string(), z.number().positive()).default({}),
    /**
     * How bytes are computed: `per-meter` (Σ events × that meter's size; default), `mean-of-meters`
     * (events × the mean of the per-meter sizes, the paper's overall average) or `dbstats`
     * (events × the store's dbStats avgObjSize, when a dbStats result is supplied).
     */
    size_method: z.enum(['per-meter', 'mean-of-meters', 'dbstats']).default('per-meter'),
    periods: periodsSchema,
    /**
     * Where the size tracker (last three stored document sizes per meter) lives: `memory` (default:
     * this controller's own samples) or `store` (several controllers: each writes what it saw to the
     * `size_tracker` collection every `size_tracker_flush_ms`, and every controller sizes meters by the
     * last three of the whole cluster; docs/profiler.md "Many controllers").
     */
    size_tracker_state: z.enum(['memory', 'store']).default('memory'),
    /** With `size_tracker_state: store`: milliseconds between writes and re-reads of the shared sizes (default 2000). */
    size_tracker_flush_ms: z.number().int().positive().default(2000),
  })
  .prefault({});
export type EstimatorConfig = z.output<typeof estimatorConfig>;
