import { prng } from '../../lib/random';

export interface GenOptions {
  projects: number;
  resources: number;
  meters: readonly string[];
  start: Date;
  /** Spacing of consecutive samples (monotonic clock). */
  stepMs: number;
  seed: number;
}

export const DEFAULT_GEN: GenOptions = {
  projects: 20,
  resources: 2000,
  meters: ['cpu', 'cpu_util', 'memory.usage', 'disk.read.bytes', 'disk.write.bytes', 'network.incoming.bytes', 'network.outgoing.bytes', 'vcpus'],
  start: new Date('2026-01-01T00:00:00Z'),
  stepMs: 50,
  seed: 7,
};

/**
 * Ceilometer-like `meter` documents for the shard-key harness: resources with Zipf(1) activity (a few
 * busy VMs, a long tail), each resource owned by one project, a monotonic timestamp. Deterministic:
 * the same options give the same documents for every candidate key.
 */
export function* generateSamples(n: number, o: GenOptions = DEFAULT_GEN): Generator<Record<string, unknown>> {
  const rnd = prng(o.seed);
  // Zipf(1) over resources via the inverse CDF on the harmonic weights
  const weights = Array.from({ length: o.resources }, (_, i) => 1 / (i + 1));
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w));
  const pick = () => {
    const x = rnd() * acc;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let i = 0; i < n; i++) {
    const r = pick();
    const project = r % o.projects;
    const meter = o.meters[Math.floor(rnd() * o.meters.length)]!;
    yield {
      counter_name: meter,
      counter_type: meter === 'cpu' || meter.endsWith('.bytes') ? 'cumulative' : 'gauge',
      counter_unit: meter.endsWith('.bytes') ? 'B' : meter === 'cpu' ? 'ns' : '%',
      counter_volume: Math.round(rnd() * 1e6) / 100,
      user_id: `user-${project}`,
      project_id: `project-${String(project).padStart(3, '0')}`,
      resource_id: `instance-${String(r).padStart(6, '0')}`,
      timestamp: new Date(o.start.getTime() + i * o.stepMs),
      resource_metadata: { flavor: 'm1.small', host: `compute-${r % 12}` },
      source: 'openstack',
      message_id: `msg-${o.seed}-${i}`,
      message_signature: '',
      recorded_at: new Date(o.start.getTime() + i * o.stepMs + 5),
    };
  }
}
