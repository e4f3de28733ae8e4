import type { CounterType } from '../pipeline/sample';

/**
 * Which Ceilometer meters each kind of stack resource produces through *polling*, one series per
 * (meter, resource id). This table is the estimator's knowledge of Ceilometer; it is documented in
 * docs/estimator.md and cross-checked against meters.yaml (type and unit) by the tests.
 *
 * Sources: research notes §3.3 (master `setup.cfg` pollsters, `telemetry-measurements.rst`) and the
 * 7.0.0 (Newton) pollster set for the `legacy` catalog.
 *
 * Not included, on purpose:
 * - `perf.*`, `cpu_l3_cache`, `memory.bandwidth.*`: need libvirt perf events, off by default.
 * - notification-only meters (`memory`/`vcpus` on `compute.instance.*` events, `volume.size` on
 *   `volume.*` events, `stack.*`, `image.*`): one-off, event driven, not periodic.
 * - pollsters of other hypervisors (`cpu_util`, `disk.*.rate` pollsters exist only for Hyper-V/VMware).
 */

/** What one series of a meter is attached to. */
export type MeterScope =
  | 'instance' // one series per server: resource_id = instance uuid
  | 'vnic' // one per virtual NIC of a server: resource_id = <instance-name>-<instance-uuid>-<tap>
  | 'disk' // one per disk device of a server: resource_id = <instance-uuid>-<vdX>
  | 'volume' // one per Cinder volume
  | 'floating_ip' // one per floating IP
  | 'container' // one per Swift container: resource_id = <project>/<container>
  | 'account' // one per Swift account (project) with containers in the stack
  | 'loadbalancer' // one per Octavia / LBaaS load balancer
  | 'listener'
  | 'pool'
  | 'member'
  | 'health_monitor';

export interface MeterDef {
  name: string;
  type: CounterType;
  unit: string;
  scope: MeterScope;
}

export type Catalog = 'master' | 'legacy';

const m = (name: string, type: CounterType, unit: string, scope: MeterScope): MeterDef => ({ name, type, unit, scope });

/** Ceilometer master (2024+) pollsters with the libvirt inspector and the central agent. */
const MASTER: MeterDef[] = [
  m('cpu', 'cumulative', 'ns', 'instance'),
  m('vcpus', 'gauge', 'vcpu', 'instance'),
  m('memory', 'gauge', 'MiB', 'instance'),
  m('memory.usage', 'gauge', 'MiB', 'instance'),
  m('memory.resident', 'gauge', 'MiB', 'instance'),
  m('memory.available', 'gauge', 'MiB', 'instance'),
  m('memory.swap.in', 'cumulative', 'MiB', 'instance'),
  m('memory.swap.out', 'cumulative', 'MiB', 'instance'),
  m('power.state', 'gauge', 'state', 'instance'),
  m('disk.root.size', 'gauge', 'GiB', 'instance'),
  m('disk.ephemeral.size', 'gauge', 'GiB', 'instance'),
  m('network.incoming.bytes', 'cumulative', 'B', 'vnic'),
  m('network.outgoing.bytes', 'cumulative', 'B', 'vnic'),
  m('network.incoming.packets', 'cumulative', 'packet', 'vnic'),
  m('network.outgoing.packets', 'cumulative', 'packet', 'vnic'),
  m('network.incoming.packets.drop', 'cumulative', 'packet', 'vnic'),
  m('network.outgoing.packets.drop', 'cumulative', 'packet', 'vnic'),
  m('network.incoming.packets.error', 'cumulative', 'packet', 'vnic'),
  m('network.outgoing.packets.error', 'cumulative', 'packet', 'vnic'),
  m('network.incoming.bytes.rate', 'gauge', 'B/s', 'vnic'),
  m('network.outgoing.bytes.rate', 'gauge', 'B/s', 'vnic'),
  m('network.incoming.bytes.delta', 'delta', 'B', 'vnic'),
  m('network.outgoing.bytes.delta', 'delta', 'B', 'vnic'),
  m('disk.device.read.bytes', 'cumulative', 'B', 'disk'),
  m('disk.device.write.bytes', 'cumulative', 'B', 'disk'),
  m('disk.device.read.requests', 'cumulative', 'request', 'disk'),
  m('disk.device.write.requests', 'cumulative', 'request', 'disk'),
  m('disk.device.read.latency', 'cumulative', 'ns', 'disk'),
  m('disk.device.write.latency', 'cumulative', 'ns', 'disk'),
  m('disk.device.capacity', 'gauge', 'B', 'disk'),
  m('disk.device.allocation', 'gauge', 'B', 'disk'),
  m('disk.device.usage', 'gauge', 'B', 'disk'),
  m('volume.size', 'gauge', 'GiB', 'volume'),
  m('ip.floating', 'gauge', 'ip', 'floating_ip'),
  m('storage.containers.objects', 'gauge', 'object', 'container'),
  m('storage.containers.objects.size', 'gauge', 'B', 'container'),
  m('storage.objects', 'gauge', 'object', 'account'),
  m('storage.objects.size', 'gauge', 'B', 'account'),
  m('storage.objects.containers', 'gauge', 'container', 'account'),
  m('loadbalancer.operating', 'gauge', 'status', 'loadbalancer'),
];

/** Ceilometer 7.0.0 (Newton, the last release with the MongoDB driver), libvirt + central agent. */
const LEGACY: MeterDef[] = [
  m('instance', 'gauge', 'instance', 'instance'),
  m('cpu', 'cumulative', 'ns', 'instance'),
  m('memory.usage', 'gauge', 'MB', 'instance'),
  m('memory.resident', 'gauge', 'MB', 'instance'),
  m('disk.read.bytes', 'cumulative', 'B', 'instance'),
  m('disk.read.requests', 'cumulative', 'request', 'instance'),
  m('disk.write.bytes', 'cumulative', 'B', 'instance'),
  m('disk.write.requests', 'cumulative', 'request', 'instance'),
  m('disk.capacity', 'gauge', 'B', 'instance'),
  m('disk.allocation', 'gauge', 'B', 'instance'),
  m('disk.usage', 'gauge', 'B', 'instance'),
  m('network.incoming.bytes', 'cumulative', 'B', 'vnic'),
  m('network.outgoing.bytes', 'cumulative', 'B', 'vnic'),
  m('network.incoming.packets', 'cumulative', 'packet', 'vnic'),
  m('network.outgoing.packets', 'cumulative', 'packet', 'vnic'),
  m('disk.device.read.bytes', 'cumulative', 'B', 'disk'),
  m('disk.device.read.requests', 'cumulative', 'request', 'disk'),
  m('disk.device.write.bytes', 'cumulative', 'B', 'disk'),
  m('disk.device.write.requests', 'cumulative', 'request', 'disk'),
  m('disk.device.capacity', 'gauge', 'B', 'disk'),
  m('disk.device.allocation', 'gauge', 'B', 'disk'),
  m('disk.device.usage', 'gauge', 'B', 'disk'),
  m('ip.floating', 'gauge', 'ip', 'floating_ip'),
  m('storage.containers.objects', 'gauge', 'object', 'container'),
  m('storage.containers.objects.size', 'gauge', 'B', 'container'),
  m('storage.objects', 'gauge', 'object', 'account'),
  m('storage.objects.size', 'gauge', 'B', 'account'),
  m('storage.objects.containers', 'gauge', 'container', 'account'),
  m('network.services.lb.loadbalancer', 'gauge', 'loadbalancer', 'loadbalancer'),
  m('network.services.lb.listener', 'gauge', 'listener', 'listener'),
  m('network.services.lb.pool', 'gauge', 'pool', 'pool'),
  m('network.services.lb.member', 'gauge', 'member', 'member'),
  m('network.services.lb.health_monitor', 'gauge', 'health_monitor', 'health_monitor'),
  m('network.services.lb.active.connections', 'gauge', 'connection', 'pool'),
  m('network.services.lb.total.connections', 'cumulative', 'connection', 'pool'),
  m('network.services.lb.incoming.bytes', 'gauge', 'B', 'pool'),
  m('network.services.lb.outgoing.bytes', 'gauge', 'B', 'pool'),
];

export const CATALOGS: Record<Catalog, readonly MeterDef[]> = { master: MASTER, legacy: LEGACY };

export function meterCatalog(catalog: Catalog): readonly MeterDef[] {
  return CATALOGS[catalog];
}
