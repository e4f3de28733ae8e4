/**
 * What the agent can report: metric definitions (Ceilometer-style meter name, type, unit, resource),
 * the resources they belong to, the host's facts, and one poll's values. Shared by the host probe,
 * the window aggregator, the local store and the request/reply answers.
 */

export type MetricType = 'gauge' | 'cumulative';

export interface MetricDef {
  /** Ceilometer meter name (`hardware.cpu.util`, `cpu_util`, `network.incoming.bytes`, …). */
  name: string;
  type: MetricType;
  unit: string;
  resource_id: string;
}

export type ResourceKind = 'host' | 'cpu' | 'disk' | 'filesystem' | 'interface' | 'instance' | 'instance_disk' | 'instance_nic' | 'cgroup';

export interface ResourceInfo {
  resource_id: string;
  kind: ResourceKind;
  /** The OpenStack project owning it (Nova instances), null for the host's own resources. */
  project_id: string | null;
  user_id: string | null;
  /** Goes into every sample's resource_metadata (with the window). */
  metadata: Record<string, unknown>;
}

/** Facts about the host, published in resource_metadata of the host's own samples (licence compliance reads them). */
export interface HostFacts {
  host: string;
  architecture: string;
  cpu_model: string;
  cpu_cores: number;
  memory_total_bytes: number;
}

export interface Discovery extends HostFacts {
  metrics: MetricDef[];
  resources: ResourceInfo[];
}

/** One poll: when (ms since the epoch) and the value of every metric that could be read, by metricKey. */
export interface Poll {
  t: number;
  values: Map<string, number>;
}

const SEP = '\u001f';

/** The key of a metric in polls, windows and the local store: meter name and resource id. */
export function metricKey(name: string, resourceId: string): string {
  return `${name}${SEP}${resourceId}`;
}

export function splitMetricKey(key: string): { name: string; resource_id: string } {
  const i = key.indexOf(SEP);
  if (i < 0) throw new Error(`not a metric key: ${JSON.stringify(key)}`);
  return { name: key.slice(0, i), resource_id: key.slice(i + 1) };
}

/** `metering agent discover --json`: the shape. */
export function discoveryJson(d: Discovery) {
  return {
    host: d.host,
    architecture: d.architecture,
    cpu_model: d.cpu_model,
    cpu_cores: d.cpu_cores,
    memory_total_bytes: d.memory_total_bytes,
    metrics: d.metrics.map((m) => ({ name: m.name, type: m.type, unit: m.unit, resource_id: m.resource_id })),
  };
}
