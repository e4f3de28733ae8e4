import { z } from 'zod';
import { duration } from './duration';
import { loadYamlFile } from '../config/yaml-source';

/** Metrics a policy rule can watch (percentages, except query_ms in milliseconds). */
export const RULE_METRICS = ['cpu', 'memory', 'disk', 'query_ms'] as const;
export type RuleMetric = (typeof RULE_METRICS)[number];

/** "Scale out when `metric` stays above `above` for `for`" (evaluated per shard; ANY hot shard triggers). */
const highRule = z.strictObject({
  metric: z.enum(RULE_METRICS),
  /** Threshold the metric must exceed (percent, or ms for query_ms). */
  above: z.number().positive(),
  /** How long every observation must stay above it (duration: 10m, 1h ...). */
  for: duration,
});

/** "Scale in only when `metric` stays below `below` for `for`" (ALL shards must satisfy every rule). */
const lowRule = z.strictObject({
  metric: z.enum(RULE_METRICS),
  below: z.number().positive(),
  for: duration,
});

export type HighRule = z.output<typeof highRule>;
export type LowRule = z.output<typeof lowRule>;

/**
 * The scaling policy. Defaults model Atlas's M30+ compute auto-scaling (research §5): up when any
 * node is >90% for 10 min or >75% for 1 h; down only when all nodes are <50% CPU for 4 h and no
 * scale-down happened in the past 24 h; storage at 90% disk used.
 */
export const policyConfig = z
  .strictObject({
    /** Scale-out rules: any shard satisfying any rule triggers. */
    scaleOut: z
      .array(highRule)
      .min(1)
      .prefault([
        { metric: 'cpu', above: 90, for: '10m' },
        { metric: 'cpu', above: 75, for: '1h' },
        { metric: 'memory', above: 90, for: '10m' },
        { metric: 'memory', above: 75, for: '1h' },
        { metric: 'disk', above: 90, for: '5m' },
        { metric: 'query_ms', above: 250, for: '10m' },
      ]),
    /**
     * Scale-in rules: every (fresh) shard must satisfy every rule whose metric it reports. The window
     * is 24 h, not Atlas's 4 h: removing a shard migrates 1/n of the data (and re-adding it migrates
     * it back), so it must cover a whole daily cycle (docs/scaler.md: closed-loop comparison).
     */
    scaleIn: z
      .array(lowRule)
      .min(1)
      .prefault([
        { metric: 'cpu', below: 50, for: '24h' },
        { metric: 'memory', below: 60, for: '24h' },
        { metric: 'disk', below: 60, for: '24h' },
      ]),
    /**
     * Scale in only if, after spreading the removed shard's share over the others (value × n/(n−1)),
     * the busiest shard's cpu/memory/disk stays below this percent (default 70: below the 75% tier,
     * so a scale-in cannot immediately re-trigger a scale-out).
     */
    projectedMaxAfterScaleIn: z.number().positive().max(100).default(70),
    /**
     * Relative hysteresis (default 0.05): once a hot run started, it continues while the value stays
     * above threshold × (1 − h); a cool run continues while below threshold × (1 + h). Stops a single
     * dip of a few points from resetting a sustained window.
     */
    hysteresis: z.number().min(0).max(0.5).default(0.05),
    /**
     * Longest silence between two observations of a shard's metric that still counts as continuous
     * (default 15m). A longer gap breaks every sustained window of that metric, and a shard with no
     * observation for this long is stale (never counted hot, and blocks scale-in).
     */
    maxGap: duration.prefault('15m'),
    /** Cooldowns (durations). */
    cooldown: z
      .strictObject({
        /** No scale-out (add-shard/add-replica) within this time after any scale-out (default 30m: lets the balancer move data). */
        afterScaleOut: duration.prefault('30m'),
        /** No scale-in within this time after any scale-out (default 4h). */
        scaleInAfterScaleOut: duration.prefault('4h'),
        /** No scale-in within this time after a scale-in (default 24h, as Atlas). */
        afterScaleIn: duration.prefault('24h'),
        /** No scale-out within this time after a scale-in (default 0: a real overload always wins). */
        scaleOutAfterScaleIn: duration.prefault('0s'),
        /**
         * Back-off factor (default 2; 1 disables): when load never dropped below the threshold since
         * the previous scale-out, the next scale-out cooldown is afterScaleOut × factor^k (capped at
         * maxScaleOutCooldown). A new shard needs balancer time before it relieves the hot one.
         */
        backoff: z.number().min(1).default(2),
        maxScaleOutCooldown: duration.prefault('4h'),
      })
      .prefault({}),
    /** Shard count bounds (defaults 1 and 16). */
    minShards: z.number().int().min(1).default(1),
    maxShards: z.number().int().min(1).default(16),
    /** Read-heavy detection: scale replication instead of sharding. */
    readHeavy: z
      .strictObject({
        /** reads_per_s / writes_per_s over the hot window at or above this ratio is read-heavy (default 4). */
        ratio: z.number().positive().default(4),
        /** Ignore the ratio below this many reads/s (default 10). */
        minReadsPerSec: z.number().min(0).default(10),
        /** Members per shard replica set the scaler may grow to (default 3). */
        maxMembersPerShard: z.number().int().min(1).default(3),
        /** Members each shard starts with (default 1, the single-node shards the paper used). */
        initialMembers: z.number().int().min(1).default(1),
      })
      .prefault({}),
    /** Predictive scale-out from onboarding estimates (estimator output). */
    predictive: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** How far ahead the estimated extra bytes are accumulated (default 7d). */
        horizon: duration.prefault('7d'),
        /** Act this long before the data arrives (default 1h: start the shard and let the balancer spread). */
        leadTime: duration.prefault('1h'),
        /** Disk bytes per shard when observations carry no disk_total_bytes (default: unknown → storage projection skipped). */
        shardDiskBytes: z.number().positive().optional(),
        /** CPU percent one event/s costs a shard; default: derived from current cpu / writes_per_s. */
        cpuPercentPerEventPerSec: z.number().positive().optional(),
      })
      .prefault({}),
  })
  .refine((p) => p.minShards <= p.maxShards, { message: 'minShards must be <= maxShards', path: ['minShards'] })
  .prefault({});

export type PolicyConfig = z.output<typeof policyConfig>;

/** The local sharded test cluster (`metering cluster up`). */
export const clusterConfig = z
  .strictObject({
    /** First port: config server = basePort, mongos = basePort+1, shard i = basePort+10+i (default 28000). */
    basePort: z.number().int().min(1024).max(65000).default(28000),
    /** Shards started by `cluster up` (default 2). */
    shards: z.number().int().min(1).max(16).default(2),
    /** WiredTiger cache per mongod in GB (default 0.25; the default would be ~50% of RAM per process). */
    wiredTigerCacheSizeGB: z.number().positive().default(0.25),
    /** Range (chunk) size in MB set in config.settings (default 1: balancing starts at ~3 MB imbalance). */
    chunkSizeMB: z.number().int().min(1).max(1024).default(1),
    /** Seconds to wait for a process to become primary / reachable (default 60). */
    startTimeoutSec: z.number().positive().default(60),
  })
  .prefault({});

/** One SaaS VM the SSH provisioner may start metering-store members on. */
export const sshHostConfig = z.strictObject({
  /** The VM's name as the profiler knows it (its display name or instance id): placement picks by this. */
  vm: z.string().min(1),
  /** Address the controller reaches sshd at and the cluster reaches the new member at (host name or IP). */
  address: z.string().min(1),
  /** sshd port (default 22). */
  port: z.number().int().min(1).max(65535).default(22),
  /** Login user (default metering). */
  user: z.string().min(1).default('metering'),
});

/**
 * Placement on the provider's SaaS VMs over SSH (`SshProvisioner`): with at least one host, the
 * actuator starts new replica-set members there, on the VM the profiler's queues rank first within
 * the CPU/memory caps (profiler.predictor.caps). Without hosts the local-process provisioner of
 * `metering cluster up` is used (development). Host keys are always verified against
 * `knownHostsFile`; the private key is read by ssh from `identityFile`; neither is ever logged.
 */
export const sshProvisionerConfig = z
  .strictObject({
    /** VMs that may host members (default none: SSH placement off). */
    hosts: z.array(sshHostConfig).default([]),
    /** Private key file for public-key login (required with hosts), e.g. ${METERING_SSH_KEY_FILE}. */
    identityFile: z.string().min(1).optional(),
    /** known_hosts file with every host's key (required with hosts): unknown or changed host keys are refused. */
    knownHostsFile: z.string().min(1).optional(),
    /** ssh client executable (default ssh, from Debian's openssh-client). */
    sshCommand: z.string().min(1).default('ssh'),
    /** Seconds to wait for the TCP connection and the SSH handshake (default 10). */
    connectTimeoutSec: z.number().int().positive().default(10),
    /**
     * Command that starts one member on the VM, with {replSet}, {role} (shardsvr|configsvr), {port},
     * {bindIp}, {dbpath}, {cacheGB} substituted (each shell-quoted). It runs in the background under
     * nohup, its output in {dbpath}/member.log.
     */
    memberCommand: z
      .string()
      .min(1)
      .default('mongod --replSet {replSet} --{role} --port {port} --bind_ip {bindIp} --dbpath {dbpath} --wiredTigerCacheSizeGB {cacheGB}'),
    /** First port for members on a VM; the next free one above it is used (default 27018). */
    basePort: z.number().int().min(1024).max(65000).default(27018),
    /** Directory under which each member gets {dataDir}/{replSet}-{port} (default /var/lib/metering-store). */
    dataDir: z.string().min(1).default('/var/lib/metering-store'),
    /** Address mongod binds to on the VM (default 0.0.0.0: the other members and mongos must reach it). */
    bindIp: z.string().min(1).default('0.0.0.0'),
    /** What one member needs on its VM, for the placement caps: cores (default 0.5) and MiB (default 512: base RSS + a 0.25 GB cache). */
    memberCpuCores: z.number().positive().default(0.5),
    memberMemoryMiB: z.number().positive().default(512),
    /** Where started members are recorded so they can be stopped after a restart (default .services/ssh-members.json). */
    stateFile: z.string().min(1).default('.services/ssh-members.json'),
  })
  .refine((c) => c.hosts.length === 0 || (c.identityFile && c.knownHostsFile), { message: 'identityFile and knownHostsFile are required when hosts are configured', path: ['hosts'] })
  .refine((c) => new Set(c.hosts.map((h) => h.vm)).size === c.hosts.length, { message: 'each vm may appear once', path: ['hosts'] })
  .prefault({});
export type SshProvisionerConfig = z.output<typeof sshProvisionerConfig>;
export type SshHostConfig = z.output<typeof sshHostConfig>;

export const SHARD_KEY_CANDIDATES = [
  { timestamp: 1 },
  { resource_id: 'hashed', timestamp: 1 },
  { project_id: 1, resource_id: 1, timestamp: 1 },
  { _id: 'hashed' },
] as const;

const shardKey = z.record(z.string(), z.union([z.literal(1), z.literal(-1), z.literal('hashed')]));
export type ShardKey = z.output<typeof shardKey>;

export const shardKeyConfig = z
  .strictObject({
    /** Key used to shard the `meter` collection (default {resource_id: hashed, timestamp: 1}, research §3). */
    default: shardKey.default({ resource_id: 'hashed', timestamp: 1 }),
    /** Candidates the advisor measures. */
    candidates: z.array(shardKey).min(1).default(() => SHARD_KEY_CANDIDATES.map((k) => ({ ...k }) as ShardKey)),
  })
  .prefault({});

/**
 * The control loop inside the running product (`metering serve` / the demo): collect → policy →
 * store → act. Off by default: the controller's scaler routes work without it.
 */
export const loopConfig = z
  .strictObject({
    /** Run the control loop in the controller process (default false). */
    enabled: z.boolean().default(false),
    /** Time between rounds (default 60s; the policy's windows assume a few samples per 5 minutes). */
    interval: duration.prefault('60s'),
    /**
     * Carry out actions (default false: decisions are only stored). Even when true, the loop only
     * actuates on a real sharded cluster (mongos) whose shards it can start: the local cluster of
     * `metering cluster up`. On a standalone, a replica set or the stand-in, actions are stored with
     * outcome `skipped` and the reason.
     */
    actuate: z.boolean().default(false),
    /** Compare sample counts before/after an action (default false: ingestion keeps writing while the loop runs). */
    verifyCounts: z.boolean().default(false),
    /** Observations kept in memory for `POST /v1/scaler/evaluate` (default 5000, about a day of 2 shards at 60 s). */
    keepObservations: z.number().int().min(10).default(5000),
  })
  .prefault({});

export type LoopConfig = z.output<typeof loopConfig>;

/** The `scaler:` section of metering.yaml. */
export const scalerConfig = z
  .strictObject({
    policy: policyConfig,
    loop: loopConfig,
    cluster: clusterConfig,
    /** Placement of new members on SaaS VMs over SSH (off without hosts: local processes). */
    ssh: sshProvisionerConfig,
    shardKey: shardKeyConfig,
    /** The store's database and collection the actuator shards and counts: must be store.database and meter (defaults ceilometer / meter). */
    database: z.string().min(1).default('ceilometer'),
    collection: z.string().min(1).default('meter'),
    /** Seconds the actuator waits for the balancer to spread data onto added shards (default 600). */
    balancerTimeoutSec: z.number().positive().default(600),
    /** Seconds a scale-in may take to drain a shard (removeShard until completed); real drains take hours (default 86400). */
    drainTimeoutSec: z.number().positive().default(86_400),
  })
  .prefault({});

export type ScalerConfig = z.output<typeof scalerConfig>;
export type ClusterConfig = z.output<typeof clusterConfig>;

/** Policy defaults (what an empty policy file yields). */
export const defaultPolicy = (): PolicyConfig => policyConfig.parse(undefined);

/** Load a policy YAML file (the `policy:` section's shape at top level); errors name file:line:field. */
export function loadPolicyFile(file: string): PolicyConfig {
  return loadYamlFile(file, policyConfig);
}
