import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Counter, Gauge } from 'prom-client';
import type { AppModule, ModuleFactory } from '../controller/app';
import { writeConcernOf } from '../pipeline/store/writer';
import { controllerId, SINGLETON_ROLES, type ClusterConfig } from './config';
import { Elector } from './elector';
import { handoverBoundMs } from './lease';
import { registerElector, unregisterElector } from './leadership';
import { Membership } from './membership';
import { clusterRoutes, type ClusterSource } from './routes';
import { controllersView } from './view';

/** This controller's id (defined beside the cluster settings, so the controller's core can name itself without importing this module). */
export { controllerId };

/**
 * Many controllers at once (docs/cluster.md). With `cluster.enabled` this controller registers in
 * `cluster_controllers` with a heartbeat and takes part in the election of every singleton role
 * (leases in `cluster_leases`, fences in `cluster_fences`); the modules that run singleton jobs ask
 * `leadershipOf(svc, role)` before acting. It must be set up before those modules (first in
 * app/modules.ts) and closes after them, releasing its leases. Without `cluster.enabled` it
 * only answers the route (this controller alone, leading everything).
 */
export const clusterModule: ModuleFactory = async (svc): Promise<AppModule> => {
  const config = svc.config.cluster;
  const id = controllerId(config);
  const log = svc.log.child({ component: 'cluster', controller: id });
  const bound = handoverBoundMs(config);
  if (!config.enabled) {
    return { name: 'cluster', routes: [clusterRoutes({ solo: { id } })] };
  }
  const instance = randomUUID();
  // leases and fences with the store's write concern (majority by default): a fail-over loses none
  const db = svc.mongo.db(svc.db.databaseName, { writeConcern: writeConcernOf(svc.config.store) });
  const address = config.advertiseUrl ?? `${svc.config.controller.tls.cert ? 'https' : 'http'}://${hostname()}:${svc.config.controller.port}`;
  const elector = new Elector({ db, config, id, instance, roles: SINGLETON_ROLES, log });
  const membership = new Membership(db, { id, instance, address, host: hostname(), pid: process.pid }, { heartbeatIntervalMs: config.heartbeatIntervalMs, memberTtlMs: config.memberTtlMs, log });
  await membership.start();
  registerElector(svc, elector);

  const registry = svc.metrics.registry;
  new Gauge({
    name: 'metering_cluster_leader',
    help: 'Whether this controller leads the singleton role (1) or not (0)',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      for (const s of elector.status()) this.set({ role: s.role }, s.leading ? 1 : 0);
    },
  });
  new Gauge({
    name: 'metering_cluster_fencing_token',
    help: 'Fencing token of the lease this controller holds for the role (0 when it does not lead)',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      for (const s of elector.status()) this.set({ role: s.role }, s.token ?? 0);
    },
  });
  new Counter({
    name: 'metering_cluster_fenced_out_total',
    help: 'Singleton actions this controller refused because its fencing token was stale (a newer leader had acted)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(elector.fences.rejected);
    },
  });
  svc.metrics.registerSnapshot('cluster: lease store errors and leases acquired/lost by this controller', () => ({
    metering_cluster_lease_errors_total: elector.stats.errors,
    metering_cluster_leases_acquired_total: elector.stats.acquired,
    metering_cluster_leases_lost_total: elector.stats.lost,
    metering_cluster_heartbeat_failures_total: membership.failures,
  }));

  elector.start();
  const source: ClusterSource = {
    id,
    async view() {
      const [{ now, members }, leases, fences] = await Promise.all([membership.list(), elector.leases.docs(), elector.fences.current()]);
      return { ...controllersView(id, now, members, leases, fences, bound), local: elector.status() };
    },
  };
  log.info({ address, leaseTtlMs: config.leaseTtlMs, renewIntervalMs: config.renewIntervalMs, handoverBoundMs: bound }, 'cluster: controller registered; electing leaders for ' + SINGLETON_ROLES.join(', '));
  return {
    name: 'cluster',
    routes: [clusterRoutes({ cluster: source })],
    // each heartbeat says which Kafka partitions this controller consumes (GET /v1/cluster/controllers)
    started: (_modules, ingestion) => {
      const consumer = ingestion.consumer;
      if (consumer) membership.reportPartitions(() => consumer.assignment());
    },
    readiness: {
      // a controller the others cannot see (no entry, or no heartbeat for a member TTL) is not ready;
      // the probe only reads (the periodic heartbeat writes)
      cluster: () => membership.ready(),
    },
    async close() {
      // modules close in reverse order: every singleton job has stopped by now, so the leases can go
      await elector.close();
      await membership.close();
      unregisterElector(svc);
    },
  };
};
