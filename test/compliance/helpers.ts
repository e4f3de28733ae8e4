import type { Sample } from '../../pipeline/sample';

export const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
export const at = (offsetS: number) => new Date(T0 + offsetS * 1000);
let seq = 0;

/** One instance sample (what a compute agent polls), `offsetS` seconds after T0. */
export function vm(id: string, offsetS: number, o: { product?: string; vcpus?: number; flavorVcpus?: number; host?: string; project?: string; meter?: string; extra?: Record<string, unknown> } = {}): Sample {
  const md: Record<string, unknown> = { display_name: id, instance_id: id, ...(o.extra ?? {}) };
  if (o.product !== undefined) md.user_metadata = { product: o.product };
  if (o.vcpus !== undefined) md.vcpus = o.vcpus;
  if (o.flavorVcpus !== undefined) md.flavor = { name: 'm1', vcpus: o.flavorVcpus };
  if (o.host !== undefined) md.instance_host = o.host;
  return {
    counter_name: o.meter ?? 'cpu_util',
    counter_type: 'gauge',
    counter_unit: '%',
    counter_volume: 10,
    user_id: 'u1',
    project_id: o.project ?? 'p-fin',
    resource_id: id,
    timestamp: at(offsetS),
    resource_metadata: md,
    source: 'openstack',
    message_id: `m-${id}-${offsetS}-${++seq}`,
    message_signature: '',
  };
}

/** One sample of a physical host carrying its facts (what the host agent publishes). */
export function host(name: string, offsetS: number, facts: { cpu_model?: string; architecture?: string; cpu_cores?: number }): Sample {
  return {
    counter_name: 'host.cpu.util',
    counter_type: 'gauge',
    counter_unit: '%',
    counter_volume: 40,
    user_id: null,
    project_id: null,
    resource_id: name,
    timestamp: at(offsetS),
    resource_metadata: { ...facts },
    source: 'host-agent',
    message_id: `h-${name}-${offsetS}-${++seq}`,
    message_signature: '',
  };
}

/** The http publisher's as_dict form of a sample (what `license check --samples` reads). */
export function asDict(s: Sample): Record<string, unknown> {
  return {
    source: s.source,
    name: s.counter_name,
    type: s.counter_type,
    unit: s.counter_unit,
    volume: s.counter_volume,
    user_id: s.user_id,
    project_id: s.project_id,
    resource_id: s.resource_id,
    timestamp: s.timestamp.toISOString(),
    resource_metadata: s.resource_metadata,
    id: s.message_id,
  };
}
