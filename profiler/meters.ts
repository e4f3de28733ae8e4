import type { Resource } from './config';

/**
 * How each Ceilometer meter turns into a utilisation value for one of the profiler's resources.
 *
 * - `pct`:     gauge already in percent (`cpu_util`).
 * - `mib`:     gauge in MiB, divided by the VM's memory size → percent (`memory.usage`, `memory.resident`).
 * - `cpu_ns`:  cumulative CPU time in ns → percent of the VM's vCPUs between consecutive samples:
 *              Δns / (Δt·1e9·vcpus) · 100.
 * - `rate`:    cumulative bytes → bytes per second between consecutive samples.
 * - `gauge`:   gauge already in the resource's unit (`*.bytes.rate` in B/s).
 * - `vcpus` / `memory_mb`: the VM's size (no utilisation value).
 *
 * `priority`: when several meters feed the same resource of a VM (e.g. `cpu_util` and `cpu`), the
 * highest-priority meter seen owns the resource and the others are counted as `shadowed` and ignored,
 * so a VM reporting both is never double counted. `device`: the meter's resource id is a device of
 * the instance (`<instance>-vda`, `<name>-<instance>-<vnic>`); utilisations of a VM's devices add up.
 */
export type MeterKind = 'pct' | 'mib' | 'cpu_ns' | 'rate' | 'gauge' | 'vcpus' | 'memory_mb';

export interface MeterSpec {
  readonly kind: MeterKind;
  /** Index into RESOURCES; -1 for size meters. */
  readonly resource: number;
  readonly priority: number;
  readonly device: boolean;
}

export const RESOURCE_INDEX: Readonly<Record<Resource, number>> = {
  cpu: 0,
  memory: 1,
  'disk.read': 2,
  'disk.write': 3,
  'network.in': 4,
  'network.out': 5,
};

const m = (kind: MeterKind, resource: Resource | null, priority: number, device: boolean): MeterSpec => ({
  kind,
  resource: resource === null ? -1 : RESOURCE_INDEX[resource],
  priority,
  device,
});

/** The meters the profiler understands; any other meter is counted as `ignored`. */
export const METERS: Readonly<Record<string, MeterSpec>> = {
  cpu_util: m('pct', 'cpu', 3, false),
  cpu: m('cpu_ns', 'cpu', 2, false),
  'memory.usage': m('mib', 'memory', 3, false),
  'memory.resident': m('mib', 'memory', 2, false),
  'disk.device.read.bytes.rate': m('gauge', 'disk.read', 4, true),
  'disk.device.read.bytes': m('rate', 'disk.read', 3, true),
  'disk.read.bytes.rate': m('gauge', 'disk.read', 2, false),
  'disk.read.bytes': m('rate', 'disk.read', 1, false),
  'disk.device.write.bytes.rate': m('gauge', 'disk.write', 4, true),
  'disk.device.write.bytes': m('rate', 'disk.write', 3, true),
  'disk.write.bytes.rate': m('gauge', 'disk.write', 2, false),
  'disk.write.bytes': m('rate', 'disk.write', 1, false),
  'network.incoming.bytes.rate': m('gauge', 'network.in', 3, true),
  'network.incoming.bytes': m('rate', 'network.in', 2, true),
  'network.outgoing.bytes.rate': m('gauge', 'network.out', 3, true),
  'network.outgoing.bytes': m('rate', 'network.out', 2, true),
  vcpus: m('vcpus', null, 0, false),
  memory: m('memory_mb', null, 0, false),
};

/** Unit of each resource's utilisation value. */
export const RESOURCE_UNITS: Readonly<Record<Resource, string>> = {
  cpu: '%',
  memory: '%',
  'disk.read': 'B/s',
  'disk.write': 'B/s',
  'network.in': 'B/s',
  'network.out': 'B/s',
};
