import type { AppModule, AppServices, ModuleFactory } from '../controller/app';
import { RESOURCE_INDEX } from '../profiler/meters';
import { leadershipOf } from '../cluster/leadership';
import { controllerId } from '../cluster/module';
import { resourceAvg, type Profiler, type VmState } from '../profiler/profiler';
import { UtilisationQueues } from '../profiler/queues';
import { capsHeadroom, queuesHeadroom } from './actuator';
import type { OnboardingEstimate } from './metrics';
import { scalerRoutes } from './routes';
import { ScalerService } from './service';
import { initShardedStore, isMongos } from './store-init';

/** The scaler's part of the running product; `scaler` is the live service (for other modules and tests). */
export interface ScalerModule extends AppModule {
  scaler: ScalerService;
}

/** Each application's scaler, by its services object (the same one every module factory receives). */
const byServices = new WeakMap<AppServices, ScalerService>();

/**
 * The scaler of the application `svc` belongs to, or undefined when the scaler module is not part
 * of it. This is how another module (the Heat onboarding hook, the profiler) reaches it:
 *
 *   scalerOf(svc)?.onboard({ at, bytes_per_day, events_per_second, stack_id })
 */
export function scalerOf(svc: AppServices): ScalerService | undefined {
  return byServices.get(svc);
}

/**
 * Hand an onboarding estimate to the application's scaler for predictive scale-out. Returns
 * undefined (and does nothing) when the application runs without the scaler module; throws
 * `OnboardingInputError` naming the bad field otherwise.
 */
export async function onboard(svc: AppServices, input: { at: Date | string; bytes_per_day: number; events_per_second: number; stack_id?: string; known_at?: Date | string }): Promise<{ estimate: OnboardingEstimate; triggerAt: Date } | undefined> {
  const s = byServices.get(svc);
  return s ? s.onboard(input) : undefined;
}

/** Redact credentials from a connection string for display. */
const displayUri = (uri: string): string => uri.replace(/\/\/[^@/]*@/, '//***@');

/**
 * The scaler module: the `scaler_decisions` repository in the store database, the scaler routes,
 * counters at /metrics, and — when `scaler.loop.enabled` — the control loop on its interval.
 */
export const scalerModule: ModuleFactory = async (svc): Promise<ScalerModule> => {
  const scaler = new ScalerService({ config: svc.config.scaler, mongo: svc.mongo, db: svc.db, log: svc.log.child({ component: 'scaler' }), uri: displayUri(svc.config.store.uri), reads: svc.config.store.reads, placementCaps: svc.config.profiler.caps, leadership: leadershipOf(svc, 'scaler'), controller: controllerId(svc.config.cluster) });
  await scaler.init();
  // store.sharded: shard meter now, at deployment, before ingestion starts writing (scale-out only adds shards)
  if (svc.config.store.sharded) {
    if (await isMongos(svc.mongo)) {
      const r = await initShardedStore(svc.mongo, svc.config.store, svc.log.child({ component: 'scaler' }));
      svc.log.info({ ns: r.ns, status: r.status, presplit: r.presplit }, 'store init');
    } else {
      svc.log.warn('store.sharded is true but the store is not a mongos: meter stays unsharded (indexes follow store.shardKey); point store.uri at a mongos to shard it');
    }
  }
  byServices.set(svc, scaler);
  svc.metrics.registerSnapshot('autoscaler: control-loop rounds, decisions by action, actuations, last evaluation (unix s), observed shards, pending onboarding estimates', () => scaler.metricsSnapshot());
  scaler.start();
  return {
    name: 'scaler',
    scaler,
    routes: [scalerRoutes(scaler)],
    // placement on the VM with most headroom and VM load in the shard observations, from the live profiler
    started: (modules) => {
      if (!bridgeProfiler(modules)) svc.log.info('scaler: no profiler module; placement on loopback and MongoDB signals only');
    },
    close: async () => {
      await scaler.stop();
      byServices.delete(svc);
    },
  };
};

/**
 * Connect the scaler to the live profiler once the application is up (`app.modules`): new replica
 * sets go to the VM with the most free CPU (the profiler's utilisation queues, `HeadroomSource`),
 * and each shard's observations carry the moving-average CPU and memory of the VM(s) hosting it
 * (shard hosts are matched to VM names, then ids). Returns false when either module is missing.
 */
export function bridgeProfiler(modules: readonly AppModule[]): boolean {
  const scaler = (modules.find((m) => m.name === 'scaler') as ScalerModule | undefined)?.scaler;
  const profiler = (modules.find((m) => m.name === 'profiler') as (AppModule & { profiler?: Profiler }) | undefined)?.profiler;
  if (!scaler || !profiler) return false;
  const queues = new UtilisationQueues(profiler);
  const ssh = scaler.config.ssh;
  // on SaaS VMs (SSH): the first VM in the free-CPU queue that takes a member within the caps; locally: the freest VM
  scaler.useHeadroom(ssh.hosts.length ? capsHeadroom(queues, ssh.hosts.map((h) => h.vm), { cpuCores: ssh.memberCpuCores, memoryMiB: ssh.memberMemoryMiB }, scaler.placementCaps) : queuesHeadroom(queues));
  scaler.useVmLoad(() => {
    const load = new Map<string, { cpu?: number; memory?: number }>();
    const avg = (vm: VmState, r: number) => {
      const x = resourceAvg(vm, r);
      return Number.isNaN(x) ? undefined : x;
    };
    for (const vm of profiler.states()) {
      const v = { cpu: avg(vm, RESOURCE_INDEX.cpu), memory: avg(vm, RESOURCE_INDEX.memory) };
      load.set(vm.id, v);
      if (vm.name) load.set(vm.name, v);
    }
    return load;
  });
  return true;
}
