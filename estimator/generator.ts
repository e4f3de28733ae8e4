import { createHash } from 'node:crypto';
import type { Sample } from '../pipeline/sample';
import { signSample } from '../pipeline/ceilometer/sign';
import { CEILOMETER_DEFAULT_SECRET } from '../pipeline/replay/encode';
import type { ScheduledMeter } from './polling';
import type { MeterScope } from './meters';
import type { ServerUnit, StackInventory, Unit } from './heat/analyze';

/**
 * The Ceilometer samples a described stack produces: one series per (meter, resource id), polled
 * every `interval_s` from the start of the window. Pure and deterministic (ids and values derive
 * from the stack name), so the same plan yields byte-identical samples; used to check estimates
 * against real ingestion and to measure the size priors.
 */

/** What the generator needs: the stack's resources and the meters it is polled for. */
export interface StackPlan {
  inventory: StackInventory;
  meters: ScheduledMeter[];
}

export interface GenerateOptions {
  projectId?: string;
  userId?: string;
  /** Signs each sample; default: Ceilometer's HMAC-SHA256 with the default telemetry_secret. '' = unsigned. */
  secret?: string;
}

/** A concrete metered thing: one resource id with its sample metadata. */
export interface SeriesResource {
  scope: MeterScope;
  resource_id: string;
  metadata: Record<string, unknown>;
  /** Seed for the deterministic volume walk. */
  seed: number;
}

/** Number of polls in [start, start + period): the first poll is at the window start. */
export const pollsIn = (periodSeconds: number, intervalSeconds: number) => Math.ceil(periodSeconds / intervalSeconds);

function hex(seed: string, n = 40): string {
  let out = '';
  for (let i = 0; out.length < n; i++) out += createHash('sha1').update(`${seed}#${i}`).digest('hex');
  return out.slice(0, n);
}
function uuid(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
/** A Heat-style physical name: <stack>-<resource>-<12 chars>. */
function physName(stack: string, key: string, i: number): string {
  const logical = key.split('/').pop()!.replace(/\[\]$/, '');
  return `${stack}-${logical}-${hex(`${key}:${i}`, 12)}`;
}

/** Expand counted units into the concrete resources each meter scope is polled on (expected counts). */
export function expandResources(inv: StackInventory, projectId = uuid(`project:${inv.stackName}`).replace(/-/g, '')): SeriesResource[] {
  const out: SeriesResource[] = [];
  let seq = 0;
  const push = (scope: MeterScope, resource_id: string, metadata: Record<string, unknown>) => out.push({ scope, resource_id, metadata, seed: seq++ });
  let containers = 0;
  for (const u of inv.units) {
    for (let i = 0; i < u.count.expected; i++) expandOne(inv, u, i, projectId, push);
    if (u.kind === 'container') containers += u.count.expected;
  }
  if (containers > 0) push('account', projectId, {});
  return out;
}

function expandOne(inv: StackInventory, u: Unit, i: number, projectId: string, push: (s: MeterScope, id: string, md: Record<string, unknown>) => void): void {
  const id = uuid(`${inv.stackId}/${u.key}/${i}`);
  const name = u.name && i === 0 ? u.name : physName(inv.stackName, u.key, i);
  switch (u.kind) {
    case 'server': {
      const md = instanceMetadata(inv, u, id, name, i);
      push('instance', id, md);
      const libvirtName = md.name as string;
      for (let n = 0; n < u.vnics; n++) {
        const tap = `tap${hex(`${id}:nic${n}`, 11).slice(0, 8)}-${hex(`${id}:nic${n}b`, 2)}`;
        const mac = `fa:16:3e:${hex(`${id}:mac${n}`, 6).match(/../g)!.join(':')}`;
        push('vnic', `${libvirtName}-${id}-${tap}`, { ...md, mac, fref: null, parameters: { interfaceid: null, bridge: null }, vnic_name: tap });
      }
      const extra = Math.floor(u.attached.expected / u.count.expected) + (i < u.attached.expected % u.count.expected ? 1 : 0);
      const devs = [...u.disks];
      for (let k = 0; k < extra; k++) devs.push(`vd${String.fromCharCode(97 + devs.length)}`);
      for (const dev of devs) push('disk', `${id}-${dev}`, { ...md, disk_name: dev });
      return;
    }
    case 'volume':
      push('volume', id, {
        display_name: name, name, status: 'in-use', volume_type: 'lvmdriver-1', availability_zone: 'nova', bootable: 'false',
        size: u.size_gb ?? 1, created_at: '2024-05-01T12:00:00.000000', user_id: null, tenant_id: projectId, encrypted: false, multiattach: false,
      });
      return;
    case 'floating_ip': {
      const n = (i % 200) + 20;
      push('floating_ip', id, {
        router_id: uuid(`${inv.stackId}/router`), status: 'ACTIVE', floating_network_id: uuid('public-net'),
        fixed_ip_address: `10.0.0.${n}`, floating_ip_address: `172.24.4.${n}`, port_id: uuid(`${id}/port`), tenant_id: projectId,
      });
      return;
    }
    case 'container':
      push('container', `${projectId}/${name}`, {});
      return;
    case 'loadbalancer':
    case 'listener':
    case 'pool':
    case 'member':
    case 'health_monitor':
      push(u.kind, id, { name, description: '', operating_status: 'ONLINE', provisioning_status: 'ACTIVE', admin_state_up: true, tenant_id: projectId });
      return;
    case 'port':
      return; // ports are metered through the server's vNIC
  }
}

function instanceMetadata(inv: StackInventory, u: ServerUnit, id: string, name: string, i: number): Record<string, unknown> {
  const f = u.flavorSpec ?? { vcpus: 1, ram_mb: 2048, disk_gb: 20, ephemeral_gb: 0, swap_mb: 0 };
  const flavorName = u.flavor ?? 'm1.small';
  const imageId = uuid(`image:${u.image ?? 'cirros'}`);
  const host = `compute-${(i % 8) + 1}`;
  const md: Record<string, unknown> = {
    display_name: name,
    name: `instance-${(0x100 + i + (u.key.length << 4)).toString(16).padStart(8, '0')}`,
    instance_id: id,
    instance_type: flavorName,
    host: hex(`host:${host}:${inv.stackId}`, 56),
    instance_host: host,
    flavor: { id: uuid(`flavor:${flavorName}`), name: flavorName, vcpus: f.vcpus, ram: f.ram_mb, disk: f.disk_gb, ephemeral: f.ephemeral_gb, swap: f.swap_mb },
    status: 'active',
    state: 'running',
    task_state: '',
    image: { id: imageId },
    image_ref: imageId,
    image_ref_url: null,
    architecture: 'x86_64',
    os_type: 'linux',
    vcpus: f.vcpus,
    memory_mb: f.ram_mb,
    disk_gb: f.disk_gb + f.ephemeral_gb,
    ephemeral_gb: f.ephemeral_gb,
    root_gb: f.disk_gb,
  };
  if (Object.keys(u.userMetadata).length > 0) {
    md.user_metadata = Object.fromEntries(Object.entries(u.userMetadata).map(([k, v]) => [k, v === 'unknown' ? inv.stackId : v]));
  }
  return md;
}

/** Deterministic, plausible volume for poll k of a series. */
function volumeFor(m: ScheduledMeter, r: SeriesResource, k: number): number {
  const s = (r.seed * 7919 + m.name.length * 104729) % 1000;
  const md = r.metadata as { memory_mb?: number; vcpus?: number; size?: number; flavor?: { disk?: number } };
  switch (m.name) {
    case 'cpu':
      return (k + 1) * m.interval_s * 1e9 * 0.12 + s * 1e6;
    case 'vcpus':
      return md.vcpus ?? 1;
    case 'memory':
      return md.memory_mb ?? 2048;
    case 'power.state':
      return 1;
    case 'instance':
      return 1;
    case 'volume.size':
      return md.size ?? 1;
    case 'ip.floating':
      return 1;
    case 'loadbalancer.operating':
      return 1;
  }
  if (m.type === 'cumulative') return (k + 1) * (1000 + s) * (m.unit === 'B' ? 4096 : 1);
  if (m.unit === 'MiB' || m.unit === 'MB') return Math.round((md.memory_mb ?? 2048) * (0.3 + s / 2000));
  if (m.unit === 'B') return (md.flavor?.disk ?? 20) * 1024 ** 3 * (0.2 + s / 5000);
  if (m.unit === '%') return (s % 1000) / 10;
  return s + k;
}

/** All samples of the plan over [startTime, startTime + periodSeconds), meter by meter, poll by poll. */
export function* iterateStackSamples(plan: StackPlan, periodSeconds: number, startTime: Date, opts: GenerateOptions = {}): Generator<Sample> {
  const projectId = opts.projectId ?? uuid(`project:${plan.inventory.stackName}`).replace(/-/g, '');
  const userId = opts.userId ?? uuid(`user:${plan.inventory.stackName}`).replace(/-/g, '');
  const secret = opts.secret ?? CEILOMETER_DEFAULT_SECRET;
  const resources = expandResources(plan.inventory, projectId);
  for (const m of plan.meters) {
    const rs = resources.filter((r) => r.scope === m.scope);
    const polls = pollsIn(periodSeconds, m.interval_s);
    for (let k = 0; k < polls; k++) {
      const timestamp = new Date(startTime.getTime() + k * m.interval_s * 1000);
      for (const r of rs) {
        const sample: Sample = {
          counter_name: m.name,
          counter_type: m.type,
          counter_unit: m.unit,
          counter_volume: volumeFor(m, r, k),
          user_id: m.scope === 'account' || m.scope === 'container' ? null : userId,
          project_id: projectId,
          resource_id: r.resource_id,
          timestamp,
          resource_metadata: r.metadata,
          source: 'openstack',
          message_id: uuid(`${m.name}@${m.interval_s}/${r.resource_id}/${k}/${startTime.getTime()}`),
          message_signature: '',
        };
        if (secret) sample.message_signature = signSample(sample, secret).message_signature as string;
        yield sample;
      }
    }
  }
}

/** The samples as an array (small stacks / short periods). */
export function generateStackSamples(plan: StackPlan, periodSeconds: number, startTime: Date, opts?: GenerateOptions): Sample[] {
  return [...iterateStackSamples(plan, periodSeconds, startTime, opts)];
}
