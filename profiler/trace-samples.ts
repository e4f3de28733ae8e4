import { createHash } from 'node:crypto';
import type { Sample } from '../pipeline/sample';
import type { BitbrainsRow } from './bitbrains';

/**
 * Turns Bitbrains trace rows of one VM into the Ceilometer samples a compute agent would have sent
 * for it (names, types and units of Ceilometer's compute pollsters):
 *
 * | meter                     | type       | unit | resource id                          |
 * |---------------------------|------------|------|--------------------------------------|
 * | vcpus                     | gauge      | vcpu | instance                             |
 * | memory                    | gauge      | MiB  | instance (provisioned)               |
 * | memory.usage              | gauge      | MiB  | instance                             |
 * | cpu_util                  | gauge      | %    | instance                             |
 * | cpu                       | cumulative | ns   | instance                             |
 * | disk.device.read.bytes    | cumulative | B    | `<instance>-vda`                     |
 * | disk.device.write.bytes   | cumulative | B    | `<instance>-vda`                     |
 * | network.incoming.bytes    | cumulative | B    | `<instance-name>-<instance>-<vnic>`  |
 * | network.outgoing.bytes    | cumulative | B    | same                                 |
 *
 * Cumulative counters start at 0 at the first row and grow by the row's rate × the time since the
 * previous row (CPU: usage % / 100 × cores × Δt × 1e9 ns; KB taken as 1024 B). Rows are handled as:
 * - **off rows** (`CPU cores` = 0, or zero CPU/memory capacity: the VM was off or not reporting) emit
 *   nothing, as a powered-off instance is not polled; counted in `stats.off_rows`.
 * - **repeated / older timestamps** emit their gauges with the same timestamp (and hence the same
 *   message ids) and unchanged counters; the profiler drops them as duplicates / out of order and the
 *   store's unique message id makes a replay idempotent. Counted in `stats.repeated_rows`.
 * - CPU above 100 % and memory above provisioned are passed through unchanged (real data).
 *
 * The instance id is a deterministic uuid (v5-style) derived from the trace name; message ids are
 * derived from instance + meter + timestamp, so replaying a trace yields identical samples.
 */

const NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8'; // RFC 4122 URL namespace

/** Deterministic name-based uuid (RFC 4122 version 5: SHA-1 of namespace + name). */
export function uuid5(name: string, namespace = NAMESPACE): string {
  const h = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name).digest();
  return formatUuid(h);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function formatUuid(h: Uint8Array): string {
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[h[i]!];
  }
  return s;
}

const meterKeys = new Map<string, Buffer>();
/**
 * Message id of a sample: uuid-shaped, a function of (resource id, meter, timestamp) only, so a replay
 * produces the same ids. Computed as SHA-1(namespace, resource/timestamp) XOR SHA-1(namespace, meter):
 * one hash per resource and row instead of one per sample (the trace replay's hot spot).
 */
export function messageId(rowKey: Buffer, meter: string): string {
  let key = meterKeys.get(meter);
  if (key === undefined) {
    key = createHash('sha1').update(NAMESPACE).update(meter).digest();
    meterKeys.set(meter, key);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = rowKey[i]! ^ key[i]!;
  return formatUuid(out);
}

/** The per-(resource, timestamp) half of `messageId`. */
export function messageRowKey(resourceId: string, ts: Date): Buffer {
  return createHash('sha1').update(NAMESPACE).update(`${resourceId}/${ts.toISOString()}`).digest();
}

export interface TraceSampleOptions {
  /** Keystone project id (32 hex); default derived from `trace_set`. */
  projectId?: string;
  /** Keystone user id (32 hex); default derived from `trace_set`. */
  userId?: string;
  /** Name of the trace set, part of every derived id (default `bitbrains-rnd`). */
  traceSet?: string;
  /** Sample `source` (default `openstack`). */
  source?: string;
  /** Signs a sample (e.g. pipeline/ceilometer/signature.ts `computeSignature` bound to a secret); default unsigned (''). */
  sign?: (sample: Sample) => string;
}

export interface TraceSampleStats {
  rows: number;
  off_rows: number;
  repeated_rows: number;
  samples: number;
}

/** The identity a trace VM gets in OpenStack terms. */
export interface TraceVmIdentity {
  name: string;
  instanceId: string;
  instanceName: string;
  diskId: string;
  vnicId: string;
  vnicName: string;
  mac: string;
}

export function traceVmIdentity(name: string, traceSet = 'bitbrains-rnd'): TraceVmIdentity {
  const instanceId = uuid5(`${traceSet}/${name}`);
  const hex = instanceId.replace(/-/g, '');
  const instanceName = `instance-${hex.slice(0, 8)}`;
  const vnicName = `tap${uuid5(`${traceSet}/${name}/vnic0`).slice(0, 11)}`;
  const mac = `fa:16:3e:${hex.slice(8, 10)}:${hex.slice(10, 12)}:${hex.slice(12, 14)}`;
  return {
    name,
    instanceId,
    instanceName,
    diskId: `${instanceId}-vda`,
    vnicId: `${instanceName}-${instanceId}-${vnicName}`,
    vnicName,
    mac,
  };
}

/** Stateful converter for one VM's rows (rows must be fed in file order). */
export class TraceSampler {
  readonly vm: TraceVmIdentity;
  readonly stats: TraceSampleStats = { rows: 0, off_rows: 0, repeated_rows: 0, samples: 0 };
  private readonly projectId: string;
  private readonly userId: string;
  private readonly source: string;
  private readonly sign?: (sample: Sample) => string;
  private readonly host: string;
  private lastTs = -Infinity;
  private cpuNs = 0;
  private readBytes = 0;
  private writeBytes = 0;
  private rxBytes = 0;
  private txBytes = 0;
  private mdCache?: { vcpus: number; memoryMb: number; instanceMd: Record<string, unknown>; diskMd: Record<string, unknown>; vnicMd: Record<string, unknown> };

  constructor(name: string, options: TraceSampleOptions = {}) {
    const set = options.traceSet ?? 'bitbrains-rnd';
    this.vm = traceVmIdentity(name, set);
    this.projectId = options.projectId ?? uuid5(`${set}/project`).replace(/-/g, '');
    this.userId = options.userId ?? uuid5(`${set}/user`).replace(/-/g, '');
    this.source = options.source ?? 'openstack';
    this.sign = options.sign;
    this.host = createHash('sha224').update(`${this.projectId}compute-01`).digest('hex');
  }

  /** Samples for one row, in the order vcpus, memory, memory.usage, cpu_util, cpu, disk, network. */
  samples(row: BitbrainsRow): Sample[] {
    this.stats.rows++;
    if (row.cpu_cores <= 0 || row.cpu_capacity_mhz <= 0 || row.memory_capacity_kb <= 0) {
      this.stats.off_rows++;
      return [];
    }
    const dt = this.lastTs === -Infinity ? 0 : row.timestamp_s - this.lastTs;
    if (dt > 0) {
      this.cpuNs += (row.cpu_usage_pct / 100) * row.cpu_cores * dt * 1e9;
      this.readBytes += row.disk_read_kbps * 1024 * dt;
      this.writeBytes += row.disk_write_kbps * 1024 * dt;
      this.rxBytes += row.net_rx_kbps * 1024 * dt;
      this.txBytes += row.net_tx_kbps * 1024 * dt;
    }
    if (this.lastTs !== -Infinity && dt <= 0) this.stats.repeated_rows++;
    else this.lastTs = row.timestamp_s;

    const vm = this.vm;
    const ts = new Date(row.timestamp_s * 1000);
    const vcpus = row.cpu_cores;
    const memoryMb = row.memory_capacity_kb / 1024;
    const { instanceMd, diskMd, vnicMd } = this.metadata(vcpus, memoryMb);
    const key = messageRowKey(vm.instanceId, ts);
    const out: Sample[] = [
      this.make('vcpus', 'gauge', 'vcpu', vcpus, vm.instanceId, ts, instanceMd, key),
      this.make('memory', 'gauge', 'MiB', memoryMb, vm.instanceId, ts, instanceMd, key),
      this.make('memory.usage', 'gauge', 'MiB', row.memory_usage_kb / 1024, vm.instanceId, ts, instanceMd, key),
      this.make('cpu_util', 'gauge', '%', row.cpu_usage_pct, vm.instanceId, ts, instanceMd, key),
      this.make('cpu', 'cumulative', 'ns', Math.round(this.cpuNs), vm.instanceId, ts, instanceMd, key),
      this.make('disk.device.read.bytes', 'cumulative', 'B', Math.round(this.readBytes), vm.diskId, ts, diskMd, key),
      this.make('disk.device.write.bytes', 'cumulative', 'B', Math.round(this.writeBytes), vm.diskId, ts, diskMd, key),
      this.make('network.incoming.bytes', 'cumulative', 'B', Math.round(this.rxBytes), vm.vnicId, ts, vnicMd, key),
      this.make('network.outgoing.bytes', 'cumulative', 'B', Math.round(this.txBytes), vm.vnicId, ts, vnicMd, key),
    ];
    this.stats.samples += out.length;
    return out;
  }

  /**
   * resource_metadata for the instance, its disk and its vNIC. The objects are shared by all samples
   * with the same size (treat them as read-only) and rebuilt only when vCPUs or memory change.
   */
  private metadata(vcpus: number, memoryMb: number): { instanceMd: Record<string, unknown>; diskMd: Record<string, unknown>; vnicMd: Record<string, unknown> } {
    const c = this.mdCache;
    if (c && c.vcpus === vcpus && c.memoryMb === memoryMb) return c;
    const vm = this.vm;
    const flavorName = `bb.c${vcpus}.m${Math.round(memoryMb)}`;
    const instanceMd: Record<string, unknown> = {
      display_name: vm.name,
      name: vm.instanceName,
      instance_id: vm.instanceId,
      instance_type: flavorName,
      host: this.host,
      instance_host: 'compute-01',
      flavor: { id: flavorName, name: flavorName, vcpus, ram: memoryMb, disk: 20, ephemeral: 0, swap: 0 },
      status: 'active',
      state: 'running',
      task_state: null,
      image: null,
      image_ref: null,
      image_ref_url: null,
      vcpus,
      memory_mb: memoryMb,
      disk_gb: 20,
      ephemeral_gb: 0,
      root_gb: 20,
      user_metadata: { server_group: 'bitbrains-rnd' },
    };
    const diskMd = { ...instanceMd, disk_name: 'vda' };
    const vnicMd = {
      ...instanceMd,
      name: vm.vnicName,
      vnic_name: vm.vnicName,
      mac: vm.mac,
      fref: null,
      parameters: { ip: null, projmask: null, projnet: null },
    };
    this.mdCache = { vcpus, memoryMb, instanceMd, diskMd, vnicMd };
    return this.mdCache;
  }

  private make(
    name: string,
    type: Sample['counter_type'],
    unit: string,
    volume: number,
    resourceId: string,
    ts: Date,
    md: Record<string, unknown>,
    key: Buffer,
  ): Sample {
    const sample: Sample = {
      counter_name: name,
      counter_type: type,
      counter_unit: unit,
      counter_volume: volume,
      user_id: this.userId,
      project_id: this.projectId,
      resource_id: resourceId,
      timestamp: ts,
      resource_metadata: md,
      source: this.source,
      message_id: messageId(key, `${resourceId}/${name}`),
      message_signature: '',
    };
    if (this.sign) sample.message_signature = this.sign(sample);
    return sample;
  }
}
