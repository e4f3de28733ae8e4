/**
 * What the licence rules need to know about each resource, folded from samples one at a time (O(1)
 * per sample, order-independent): for every resource, its newest sample and, per fact, the newest
 * sample that carries that fact. The offline check, the report over the store and the live observer
 * all build their view of "the newest sample at or before T" with this one fold.
 */

/** The part of a Ceilometer sample the rules read (a `Sample`, a stored `meter` document or a JSON item). */
export interface FactSample {
  resource_id: string;
  project_id: string | null;
  timestamp: Date;
  message_id: string;
  resource_metadata: Record<string, unknown> | null | undefined;
}

/** A sample a finding rests on: its id (message_id) and time. */
export interface SampleRef {
  id: string;
  timestamp: Date;
}

export interface Fact<T> {
  value: T;
  sample: SampleRef;
}

export interface ResourceFacts {
  resource_id: string;
  /** The newest sample of the resource: activity, project and product come from it. */
  newest: SampleRef;
  project_id: string | null;
  /** `resource_metadata.user_metadata.product` of the newest sample (Heat: server metadata `metering.product`). */
  product: string | undefined;
  /** vCPUs: `vcpus`, else `flavor.vcpus`, of the newest sample carrying either. */
  vcpus?: Fact<number>;
  /** `instance_host` of the newest sample carrying it. */
  host?: Fact<string>;
  /** Host facts (when this resource is a physical host): each from the newest sample carrying it. */
  cpu_model?: Fact<string>;
  architecture?: Fact<string>;
  cpu_cores?: Fact<number>;
}

const isDict = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** Newer = later timestamp; equal timestamps are ordered by message id so every fold order agrees. */
export function newer(a: SampleRef, b: SampleRef | undefined): boolean {
  if (!b) return true;
  const d = a.timestamp.getTime() - b.timestamp.getTime();
  return d > 0 || (d === 0 && a.id > b.id);
}

/**
 * Samples of a VM's disks and NICs carry the instance's metadata (Ceilometer's compute pollsters copy
 * it, `instance_id` included) under resource ids of their own (`<uuid>-vda`, `instance-…-tap…`). They
 * are parts of an instance, not instances: counting them would count the VM's product and vCPUs again.
 */
export function isSubResource(s: FactSample): boolean {
  const md = s.resource_metadata;
  const instanceId = isDict(md) ? md.instance_id : undefined;
  return typeof instanceId === 'string' && instanceId !== '' && instanceId !== s.resource_id;
}

export interface FoldStats {
  /** Samples folded in. */
  samples: number;
  /** Disk / NIC samples skipped (see isSubResource). */
  sub_resources: number;
  /** Samples of new resources refused because `maxResources` was reached. */
  over_capacity: number;
}

export class FactIndex {
  private readonly byId = new Map<string, ResourceFacts>();
  readonly stats: FoldStats = { samples: 0, sub_resources: 0, over_capacity: 0 };

  constructor(private readonly maxResources = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.byId.size;
  }

  get(resourceId: string): ResourceFacts | undefined {
    return this.byId.get(resourceId);
  }

  resources(): IterableIterator<ResourceFacts> {
    return this.byId.values();
  }

  /** Fold one sample in. Returns false when it was skipped (a sub-resource, or no room). */
  observe(s: FactSample): boolean {
    if (isSubResource(s)) {
      this.stats.sub_resources++;
      return false;
    }
    const ref: SampleRef = { id: s.message_id, timestamp: s.timestamp };
    const md = isDict(s.resource_metadata) ? s.resource_metadata : {};
    let r = this.byId.get(s.resource_id);
    if (!r) {
      if (this.byId.size >= this.maxResources) {
        this.stats.over_capacity++;
        return false;
      }
      r = { resource_id: s.resource_id, newest: ref, project_id: s.project_id, product: productOf(md) };
      this.byId.set(s.resource_id, r);
    } else if (newer(ref, r.newest)) {
      r.newest = ref;
      r.project_id = s.project_id;
      r.product = productOf(md);
    }
    this.stats.samples++;
    const vcpus = count(md.vcpus) ?? (isDict(md.flavor) ? count(md.flavor.vcpus) : undefined);
    if (vcpus !== undefined && newer(ref, r.vcpus?.sample)) r.vcpus = { value: vcpus, sample: ref };
    const host = str(md.instance_host);
    if (host !== undefined && newer(ref, r.host?.sample)) r.host = { value: host, sample: ref };
    const model = str(md.cpu_model);
    if (model !== undefined && newer(ref, r.cpu_model?.sample)) r.cpu_model = { value: model, sample: ref };
    const arch = str(md.architecture);
    if (arch !== undefined && newer(ref, r.architecture?.sample)) r.architecture = { value: arch, sample: ref };
    const cores = count(md.cpu_cores);
    if (cores !== undefined && newer(ref, r.cpu_cores?.sample)) r.cpu_cores = { value: cores, sample: ref };
    return true;
  }

  /**
   * Forget resources whose newest sample is at or before `before` and that carry no host facts: they
   * are inactive from then on, and a new sample brings their facts back. Hosts are kept (their facts
   * hold until a newer sample says otherwise). Returns how many were forgotten.
   */
  prune(before: Date): number {
    const t = before.getTime();
    let n = 0;
    for (const [id, r] of this.byId) {
      if (r.newest.timestamp.getTime() <= t && !r.cpu_model && !r.architecture && !r.cpu_cores) {
        this.byId.delete(id);
        n++;
      }
    }
    return n;
  }
}

function productOf(md: Record<string, unknown>): string | undefined {
  return isDict(md.user_metadata) ? str(md.user_metadata.product) : undefined;
}
