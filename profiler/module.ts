import { existsSync } from 'node:fs';
import type { AppModule, ModuleFactory } from '../controller/app';
import { Profiler, profilerOptionsFromConfig } from './profiler';
import { profilerRoutes } from './routes';
import { loadSnapshot, restoreProfiler, saveSnapshot } from './snapshot';

/**
 * The profiler as part of the running product: a `Profiler` on the ingestion interception hook,
 * restored from `profiler.snapshot_path` when that file exists, saved there every
 * `snapshot_interval_s` (0 = only on close) and on close; its counters in /metrics; its routes
 * (`/v1/profiles`, `/v1/queues`, `/v1/predictor/recommendation`) on the controller.
 */

export interface ProfilerModule extends AppModule {
  profiler: Profiler;
  /** Write the snapshot now. */
  save(): Promise<void>;
}

export const profilerModule: ModuleFactory = async (svc): Promise<ProfilerModule> => {
  const config = svc.config.profiler;
  const log = svc.log.child({ component: 'profiler' });
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

  svc.metrics.registerSnapshot('resource profiler (paper §III-B): samples seen on the interception hook and VMs tracked', () => {
    const s = profiler.stats;
    return {
      metering_profiler_samples_received_total: s.received,
      metering_profiler_samples_accepted_total: s.accepted,
      metering_profiler_duplicates_total: s.duplicates,
      metering_profiler_out_of_order_total: s.out_of_order,
      metering_profiler_counter_resets_total: s.resets,
      metering_profiler_vms_expired_total: s.expired,
      metering_profiler_vms_evicted_total: s.evicted,
      metering_profiler_vms_tracked: profiler.size,
    };
  });

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
