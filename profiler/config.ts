import { z } from 'zod';

/** The resources the profiler tracks per VM (keys of the CLI/JSON output). */
export const RESOURCES = ['cpu', 'memory', 'disk.read', 'disk.write', 'network.in', 'network.out'] as const;
export type Resource = (typeof RESOURCES)[number];

const positiveInt = z.number().int().positive();

/** Overhead caps the predictor must never exceed on a hosting VM. */
export const predictorCapsConfig = z
  .strictObject({
    /** Extra CPU, percentage points of the VM's vCPUs (default 15). */
    cpu_pp: z.number().positive().max(100).default(15),
    /** Extra memory, percentage points of the VM's memory (default 10). */
    memory_pp: z.number().positive().max(100).default(10),
    /** Current utilisation + extra must also stay at or below this percentage (default 90). */
    ceiling_pct: z.number().positive().max(100).default(90),
  })
  .prefault({});

/** Operator targets for the offline resource predictor. */
export const predictorTargetsConfig = z
  .strictObject({
    /** Expected mediation query time, milliseconds (default 2000). */
    query_ms: z.number().positive().default(2000),
    /** Mediation/rating queries per second (default 0.1). */
    query_rate_per_s: z.number().nonnegative().default(0.1),
    /** Highest average busy fraction of a shard member's query capacity (0–1, default 0.7). */
    avg_load: z.number().positive().max(1).default(0.7),
    /** Hours of data one mediation query scans (default 24: a daily mediation run). */
    query_span_h: z.number().positive().default(24),
    /** Members per shard replica set at least (default 1; 3 for high availability). */
    min_replicas: positiveInt.default(1),
    /** Members per shard replica set at most (default 3). */
    max_replicas: positiveInt.default(3),
  })
  .prefault({});

/** How the profiler's state is kept when several controllers share the ingest topic (docs/profiler.md "Many controllers"). */
export const profilerClusterConfig = z
  .strictObject({
    /**
     * `memory` (default): one process holds the whole profiler (one controller; snapshot file for restarts).
     * `store`: per Kafka partition, the controller owning it writes its part of the state to MongoDB
     * every `flush_interval_ms` and hands it over on rebalance; /v1/profiles and /v1/queues on ANY
     * controller answer from the store, the same everywhere (run this with more than one controller).
     */
    state: z.enum(['memory', 'store']).default('memory'),
    /** With `state: store`: milliseconds between writes of the changed VMs' state (the staleness bound of the answers; default 2000). */
    flush_interval_ms: z.number().int().positive().default(2000),
    /** With `state: store`: how long a controller gaining a partition waits for the previous owner to hand its state over before taking the stored state as it is (a crashed owner; default 10000 ms). */
    handover_timeout_ms: z.number().int().nonnegative().default(10_000),
    /** With `state: store`: how long one read of the cluster-wide view serves queries (default 500 ms; 0 = read per query). */
    view_cache_ms: z.number().int().nonnegative().default(500),
    /** With `state: store`: the collection of the store database holding the state (default `profiler_state`). */
    collection: z.string().min(1).default('profiler_state'),
  })
  .prefault({});

/**
 * `profiler:` section of metering.yaml. Every field has a default, so an empty section is valid.
 */
export const profilerConfig = z
  .strictObject({
    /** Default sliding-window length n: the moving average is over the last n accepted values (default 12 = 1 h at 5-min polling). */
    window: positiveInt.default(12),
    /** Per-meter window overrides, e.g. `{cpu_util: 6, network.incoming.bytes: 24}` (default: none, every meter uses `window`). */
    windows: z.record(z.string(), positiveInt).default({}),
    /** A VM from which no sample arrived (`recorded_at`) for this many seconds is forgotten (default 3600 s). */
    idle_ttl_s: z.number().positive().default(3600),
    /** Upper bound on tracked VMs; the least recently seen VM is evicted when a new one arrives (default 20000). */
    max_vms: positiveInt.default(20000),
    /** Two counter samples further apart than this (seconds) give no rate; the counter is re-based instead (default 21600 s). */
    max_rate_gap_s: z.number().positive().default(21600),
    /** Where the running product saves and restores the profiler's state; the directory is created if missing (default `.cache/profiler-state.json`, git-ignored). */
    snapshot_path: z.string().min(1).default('.cache/profiler-state.json'),
    /** Seconds between periodic snapshot saves by a long-running ingester; 0 disables (default 60). */
    snapshot_interval_s: z.number().nonnegative().default(60),
    /** Overhead caps the predictor must never exceed on a hosting VM, in percentage points (paper: CPU +15, memory +10). */
    caps: predictorCapsConfig,
    /** Operator targets for the offline resource predictor. */
    targets: predictorTargetsConfig,
    /** State shared by several controllers (partitioned by Kafka partition, kept in the store). */
    cluster: profilerClusterConfig,
  })
  .prefault({});

export type ProfilerConfig = z.infer<typeof profilerConfig>;
export type ProfilerClusterConfig = z.infer<typeof profilerClusterConfig>;
export type PredictorCaps = z.infer<typeof predictorCapsConfig>;
export type PredictorTargets = z.infer<typeof predictorTargetsConfig>;

/** Window length for a meter: its override or the default. */
export function windowFor(config: Pick<ProfilerConfig, 'window' | 'windows'>, meter: string): number {
  return config.windows[meter] ?? config.window;
}
