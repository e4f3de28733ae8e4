import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AppModule, ModuleFactory } from '../controller/app';
import { Profiler, profilerOptionsFromConfig, type ProfilerStats } from './profiler';
import { profilerRoutes } from './routes';
import { loadSnapshot, restoreProfiler, saveSnapshot } from './snapshot';
import { ClusterProfiler } from './cluster';
import { controllerId as clusterControllerId } from '../cluster/module';

/**
 * The profiler as part of the running product: a `Profiler` on the ingestion interception hook,
 * restored from `profiler.snapshot_path` when that file exists, saved there every
 * `snapshot_interval_s` (0 = only on close) and on close; its counters in /metrics; its routes
 * (`/v1/profiles`, `/v1/queues`, `/v1/predictor/recommendation`) on the controller.
 */

export interface ProfilerModule extends AppModule {
  profiler: Profiler;
  /** With `profiler.cluster.state: store`: the partitioned state and its store. */
  cluster?: ClusterProfiler;
  /** Write the snapshot now. */
  save(): Promise<void>;
}

export const profilerModule: ModuleFactory = async (svc): Promise<ProfilerModule> => {
  const config = svc.config.profiler;
  const log = svc.log.child({ component: 'profiler' });
  if (config.cluster.state === 'store') return clusterProfilerModule(svc);
  const options = profilerOptionsFromConfig(config);
  const file = config.snapshot_path;

  let profiler: Profiler;
  if (existsSync(file)) {
    // A corrupt or incompatible snapshot must not keep the product from starting: it is only a warm start.
    try {
      profiler = restoreProfiler(await loadSnapshot(file), options);
      log.info({ file, vms: profiler.size }, `profiler restored ${profiler.size} VMs from ${file}`);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'profiler snapshot not usable; starting empty');
      profiler = new Profiler(options);
    }
  } else {
    profiler = new Profiler(options);
    log.info({ file }, 'no profiler snapshot; starting empty');
  }

  let saving: Promise<void> | undefined;
  const save = async (): Promise<void> => {
    // One save at a time; a save asked for while one runs waits for it and then writes the newer state.
    while (saving) await saving.catch(() => undefined);
    saving = saveSnapshot(file, profiler);
    try {
      await saving;
    } finally {
      saving = undefined;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  if (config.snapshot_interval_s > 0) {
    timer = setInterval(() => {
      save().catch((err) => log.warn({ file, err: (err as Error).message }, 'profiler snapshot save failed'));
    }, config.snapshot_interval_s * 1000);
    timer.unref();
  }

  svc.metrics.registerSnapshot('resource profiler (paper §III-B): samples seen on the interception hook and VMs tracked', () => profilerMetrics(profiler.stats, profiler.size));

  return {
    name: 'profiler',
    profiler,
    save,
    observers: [profiler],
    routes: [profilerRoutes({ profiler, config })],
    async close() {
      if (timer) clearInterval(timer);
      try {
        await save();
        log.info({ file, vms: profiler.size }, `profiler saved ${profiler.size} VMs to ${file}`);
      } catch (err) {
        log.warn({ file, err: (err as Error).message }, 'profiler snapshot save on close failed');
      }
    },
  };
};

/** The profiler's own counters and the VMs it tracks, as /metrics shows them (either state mode). */
function profilerMetrics(s: ProfilerStats, tracked: number): Record<string, number> {
  return {
    metering_profiler_samples_received_total: s.received,
    metering_profiler_samples_accepted_total: s.accepted,
    metering_profiler_duplicates_total: s.duplicates,
    metering_profiler_out_of_order_total: s.out_of_order,
    metering_profiler_counter_resets_total: s.resets,
    metering_profiler_vms_expired_total: s.expired,
    metering_profiler_vms_evicted_total: s.evicted,
    metering_profiler_vms_tracked: tracked,
  };
}

/**
 * `profiler.cluster.state: store` (several controllers): each controller profiles the partitions it
 * owns and writes their state to the store; the routes answer from the cluster-wide view in the store,
 * so every controller gives the same answer (docs/profiler.md "Many controllers"). The snapshot file
 * is not used: the store is the state. `profiler` is the cluster-wide view (refreshed in place).
 */
async function clusterProfilerModule(svc: Parameters<ModuleFactory>[0]): Promise<ProfilerModule> {
  const config = svc.config.profiler;
  const log = svc.log.child({ component: 'profiler' });
  // the cluster's controller id (logs and /v1/cluster/controllers name the same controller), plus a
  // per-start suffix: a restarted controller with the same id must not pass for its previous self
  const controllerId = `${clusterControllerId(svc.config.cluster)}:${randomBytes(3).toString('hex')}`;
  const cluster = new ClusterProfiler(svc.db, config, controllerId, log);
  await cluster.start();
  log.info({ controllerId, collection: config.cluster.collection }, 'profiler state kept in the store, partitioned by Kafka partition');
  svc.metrics.registerSnapshot('resource profiler (paper §III-B), state partitioned by Kafka partition and kept in the store', () => {
    const c = cluster.counters;
    return {
      ...profilerMetrics(cluster.partitioned.stats, cluster.partitioned.size),
      metering_profiler_samples_unowned_skipped_total: cluster.partitioned.skippedUnowned,
      metering_profiler_state_flushes_total: c.flushes,
      metering_profiler_state_parts_written_total: c.parts_written,
      metering_profiler_state_stale_writes_total: c.stale_writes,
      metering_profiler_state_flush_failures_total: c.flush_failures,
      metering_profiler_partitions_loaded_total: c.partitions_loaded,
      metering_profiler_partitions_released_total: c.partitions_released,
      metering_profiler_handover_timeouts_total: c.handover_timeouts,
      metering_profiler_partitions_owned: cluster.partitioned.keys().filter((k) => !k.startsWith('direct:')).length,
    };
  });
  const save = async () => {
    await cluster.flush();
  };
  return {
    name: 'profiler',
    profiler: cluster.view,
    save,
    cluster,
    observers: [cluster.partitioned],
    routes: [profilerRoutes({ profiler: () => cluster.current(), config })],
    started: (_modules, ingestion) => {
      if (ingestion.consumer) ingestion.consumer.addPartitionListener(cluster);
      else log.warn('profiler.cluster.state is store but no Kafka consumer runs: every sample is profiled as this controller\'s own (direct) part');
    },
    async close() {
      try {
        await cluster.close();
        log.info({ controllerId }, 'profiler state written to the store');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'profiler state write on close failed');
      }
    },
  };
}
