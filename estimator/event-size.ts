import type { SampleObserver, StoredSample } from '../pipeline/sample';

/**
 * Event (stored `meter` document) size model.
 *
 * Paper: "keeps track of the changes in the event object size per meter and estimates the value by
 * taking the average of the three previously collected values … then averages these values across
 * the meters to determine the overall average object size. An alternative approach is to directly
 * track the overall average object event size from the metering store's database (dbStats)".
 */

/**
 * Bytes per stored `meter` document before anything has been observed, per meter. Measured with
 * BSON.calculateObjectSize over the documents the ingestion layout (`pipeline/store/layout.ts`)
 * builds from generator samples of a reference stack (one m1.small server with one vNIC and one
 * disk, one volume, floating IP, Swift container and load balancer; signed, UTC timestamps).
 * Re-derived by test/estimator/event-size.test.ts (`measurePriors`); regenerate with
 * `node bin/metering.mjs estimate priors`.
 */
export const SIZE_PRIORS: Readonly<Record<string, number>> = {
  'cpu': 1167,
  'disk.allocation': 1173,
  'disk.capacity': 1171,
  'disk.device.allocation': 1203,
  'disk.device.capacity': 1201,
  'disk.device.read.bytes': 1204,
  'disk.device.read.latency': 1207,
  'disk.device.read.requests': 1213,
  'disk.device.usage': 1198,
  'disk.device.write.bytes': 1205,
  'disk.device.write.latency': 1208,
  'disk.device.write.requests': 1214,
  'disk.ephemeral.size': 1175,
  'disk.read.bytes': 1174,
  'disk.read.requests': 1183,
  'disk.root.size': 1170,
  'disk.usage': 1168,
  'disk.write.bytes': 1175,
  'disk.write.requests': 1184,
  'instance': 1169,
  'ip.floating': 793,
  'loadbalancer.operating': 682,
  'memory': 1162,
  'memory.available': 1172,
  'memory.resident': 1171,
  'memory.swap.in': 1175,
  'memory.swap.out': 1176,
  'memory.usage': 1168,
  'network.incoming.bytes': 1315,
  'network.incoming.bytes.delta': 1320,
  'network.incoming.bytes.rate': 1317,
  'network.incoming.packets': 1322,
  'network.incoming.packets.drop': 1327,
  'network.incoming.packets.error': 1328,
  'network.outgoing.bytes': 1315,
  'network.outgoing.bytes.delta': 1320,
  'network.outgoing.bytes.rate': 1317,
  'network.outgoing.packets': 1322,
  'network.outgoing.packets.drop': 1327,
  'network.outgoing.packets.error': 1328,
  'network.services.lb.active.connections': 704,
  'network.services.lb.health_monitor': 707,
  'network.services.lb.incoming.bytes': 695,
  'network.services.lb.listener': 696,
  'network.services.lb.loadbalancer': 698,
  'network.services.lb.member': 690,
  'network.services.lb.outgoing.bytes': 695,
  'network.services.lb.pool': 684,
  'network.services.lb.total.connections': 708,
  'power.state': 1169,
  'storage.containers.objects': 498,
  'storage.containers.objects.size': 502,
  'storage.objects': 460,
  'storage.objects.containers': 474,
  'storage.objects.size': 464,
  'vcpus': 1162,
  'volume.size': 802,
};

/** Used for a meter with no observation, no override and no prior. */
export const FALLBACK_EVENT_BYTES = 1100;

/** Last-3 mean per meter, fed by the ingestion hook with each stored document's BSON size. */
export class SizeTracker implements SampleObserver {
  readonly name = 'estimator-size-tracker';
  private readonly last = new Map<string, number[]>();

  constructor(readonly window = 3) {}

  onStored(samples: readonly StoredSample[]): void {
    for (const s of samples) this.observe(s.counter_name, s.bson_size);
  }

  observe(meter: string, bytes: number): void {
    let w = this.last.get(meter);
    if (!w) this.last.set(meter, (w = []));
    w.push(bytes);
    if (w.length > this.window) w.shift();
  }

  /** Mean of the last (up to) three observed sizes of `meter`, or undefined before any. */
  meterSize(meter: string): number | undefined {
    const w = this.last.get(meter);
    return w && w.length > 0 ? w.reduce((a, b) => a + b, 0) / w.length : undefined;
  }

  /** The paper's overall average: mean of the per-meter last-3 means over all observed meters. */
  overallAverage(): number | undefined {
    const sizes = [...this.last.keys()].map((m) => this.meterSize(m)!);
    return sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length : undefined;
  }

  meters(): string[] {
    return [...this.last.keys()];
  }

  /** Replace every meter's last sizes (oldest first; the shared cluster-wide view, estimator/size-store.ts). */
  replaceAll(sizes: ReadonlyMap<string, readonly number[]>): void {
    this.last.clear();
    for (const [meter, list] of sizes) if (list.length > 0) this.last.set(meter, list.slice(-this.window));
  }
}

/** The subset of MongoDB's `dbStats` result the estimator uses. */
export interface DbStats {
  objects: number;
  avgObjSize: number;
  dataSize?: number;
}

/**
 * Average object size from dbStats. MongoDB's avgObjSize is dataSize / objects; when dataSize is
 * present the exact ratio is used (the displayed avgObjSize is cut to 6 decimals: the paper's
 * 1189.759382 is 2664719556 / 2239713 = 1189.759382563…).
 */
export function avgObjSizeFromDbStats(stats: DbStats): number {
  if (!(stats.objects >= 0) || !(stats.avgObjSize >= 0)) throw new Error('dbStats: objects and avgObjSize must be non-negative numbers');
  if (stats.dataSize !== undefined && stats.objects > 0) return stats.dataSize / stats.objects;
  return stats.avgObjSize;
}

/** Bytes for `objects` documents of `avgBytes` each, rounded to the nearest byte. */
export function bytesFor(objects: number, avgBytes: number): number {
  return Math.round(objects * avgBytes);
}

export type SizeMethod = 'per-meter' | 'mean-of-meters' | 'dbstats';

/** Where each meter's size comes from, in priority order: observed last-3 mean, override, prior. */
export interface SizeModel {
  method: SizeMethod;
  tracker?: SizeTracker;
  overrides?: Record<string, number>;
  priors?: Readonly<Record<string, number>>;
  dbStats?: DbStats;
}

export interface MeterSize {
  bytes: number;
  /** observed | override | prior | fallback, or "<source> (<meter>)" for a derived meter sized from its source. */
  source: string;
}

/**
 * Size of one stored document of `meter`. A transformer output (legacy `cpu_util`, `*.rate`) without
 * a prior of its own is its source meter's prior adjusted by the name and unit length difference
 * (the documents are otherwise the same: same resource, same metadata).
 */
export function meterSize(model: SizeModel, meter: string, derived?: { from: string; unit: string; fromUnit: string }): MeterSize {
  const seen = model.tracker?.meterSize(meter);
  if (seen !== undefined) return { bytes: seen, source: 'observed' };
  const o = model.overrides?.[meter];
  if (o !== undefined) return { bytes: o, source: 'override' };
  const p = (model.priors ?? SIZE_PRIORS)[meter];
  if (p !== undefined) return { bytes: p, source: 'prior' };
  if (derived) {
    const base = meterSize(model, derived.from);
    if (base.source !== 'fallback') {
      return { bytes: base.bytes + meter.length - derived.from.length + derived.unit.length - derived.fromUnit.length, source: `${base.source} (${derived.from})` };
    }
  }
  return { bytes: FALLBACK_EVENT_BYTES, source: 'fallback' };
}
