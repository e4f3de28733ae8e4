import type { Observation, OnboardingEstimate } from './metrics';
import { prng } from '../lib/random';

export const SCENARIOS = ['spike', 'sustained', 'read-heavy', 'cool-down', 'onboarding', 'mixed'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SynthOptions {
  scenario: Scenario;
  /** Shards in the series (default 2; cool-down uses at least 3). */
  shards?: number;
  start?: Date;
  /** Sampling step in ms (default 5 minutes, the Bitbrains / Ceilometer polling interval). */
  stepMs?: number;
  /** Seed of the deterministic noise (default 1). */
  seed?: number;
}

export interface SynthSeries {
  observations: Observation[];
  onboarding: OnboardingEstimate[];
  /** What the scenario contains, for operators. */
  description: string;
}

const MIN = 60_000;


interface Phase {
  minutes: number;
  /** Per-shard values at minute m of the phase (shard index i). */
  at: (i: number, m: number) => Partial<Omit<Observation, 't' | 'shard'>>;
}

const calm = (i: number): Partial<Observation> => ({ cpu: 35 + 5 * (i % 2), memory: 45, disk: 40, reads_per_s: 200, writes_per_s: 300, query_ms: 8 });

function phases(s: Scenario): { phases: Phase[]; description: string; onboarding?: (start: number) => OnboardingEstimate[] } {
  switch (s) {
    case 'spike':
      return {
        description: 'shard 0 spikes to ~98% CPU for 5 minutes (shorter than the 10 minute window) twice; nothing should happen',
        phases: [
          { minutes: 60, at: calm },
          { minutes: 5, at: (i) => (i === 0 ? { ...calm(i), cpu: 98 } : calm(i)) },
          { minutes: 60, at: calm },
          { minutes: 5, at: (i) => (i === 0 ? { ...calm(i), cpu: 97, query_ms: 400 } : calm(i)) },
          { minutes: 60, at: calm },
        ],
      };
    case 'sustained':
      return {
        description: 'shard 0 runs at ~95% CPU for 40 minutes (write-heavy), then recovers: one add-shard',
        phases: [
          { minutes: 60, at: calm },
          { minutes: 40, at: (i) => (i === 0 ? { ...calm(i), cpu: 95, writes_per_s: 2500, query_ms: 40 } : calm(i)) },
          { minutes: 60, at: calm },
        ],
      };
    case 'read-heavy':
      return {
        description: 'shard 0 at ~93% CPU for 30 minutes with reads ≫ writes: one add-replica',
        phases: [
          { minutes: 60, at: calm },
          { minutes: 30, at: (i) => (i === 0 ? { ...calm(i), cpu: 93, reads_per_s: 4000, writes_per_s: 150, query_ms: 60 } : calm(i)) },
          { minutes: 60, at: calm },
        ],
      };
    case 'cool-down':
      return {
        description: 'all shards idle (~15% CPU, 30% memory, 20% disk) for 60 hours: one remove-shard after 24 hours, the next one 24 hours later',
        phases: [{ minutes: 60 * 60, at: () => ({ cpu: 15, memory: 30, disk: 20, reads_per_s: 20, writes_per_s: 40, query_ms: 3 }) }],
      };
    case 'onboarding':
      return {
        description: 'calm cluster; an onboarding estimate (+40 GB/day, +600 events/s arriving 3 hours in) is announced after 1 hour: predictive add-shard before the data arrives',
        phases: [
          { minutes: 180, at: (i) => ({ ...calm(i), disk_total_bytes: 200e9 }) },
          { minutes: 60, at: (i) => ({ ...calm(i), cpu: 70, writes_per_s: 1800, disk: 45, disk_total_bytes: 200e9 }) },
        ],
        onboarding: (start) => [{ t: new Date(start + 60 * MIN), arrives_at: new Date(start + 180 * MIN), bytes_per_day: 40e9, events_per_s: 600, label: 'synthetic-stack' }],
      };
    case 'mixed':
      return {
        description: 'spike, then sustained load, then read-heavy load, then a long quiet period',
        phases: [...phases('spike').phases, ...phases('sustained').phases, ...phases('read-heavy').phases, ...phases('cool-down').phases],
      };
  }
}

/** Generate a synthetic per-shard metric series for one scenario (deterministic for a seed). */
export function synthesize(opts: SynthOptions): SynthSeries {
  const p = phases(opts.scenario);
  const shards = Math.max(opts.shards ?? 2, opts.scenario === 'cool-down' ? 3 : 1);
  const step = opts.stepMs ?? 5 * MIN;
  const start = (opts.start ?? new Date('2026-01-05T00:00:00Z')).getTime();
  const rnd = prng(opts.seed ?? 1);
  const jitter = (v: number, pct: number) => Math.max(0, v * (1 + (rnd() - 0.5) * 2 * pct));
  const observations: Observation[] = [];
  let offset = 0;
  for (const ph of p.phases) {
    for (let m = 0; m < ph.minutes; m += step / MIN) {
      const t = new Date(start + offset + m * MIN);
      for (let i = 0; i < shards; i++) {
        const v = ph.at(i, m);
        const o: Observation = { t, shard: `sh${i}` };
        // ±2% noise on percentages keeps spikes/plateaus on their side of the thresholds
        if (v.cpu !== undefined) o.cpu = Math.min(100, jitter(v.cpu, 0.02));
        if (v.memory !== undefined) o.memory = Math.min(100, jitter(v.memory, 0.02));
        if (v.disk !== undefined) o.disk = v.disk;
        if (v.reads_per_s !== undefined) o.reads_per_s = jitter(v.reads_per_s, 0.1);
        if (v.writes_per_s !== undefined) o.writes_per_s = jitter(v.writes_per_s, 0.1);
        if (v.query_ms !== undefined) o.query_ms = jitter(v.query_ms, 0.1);
        if (v.disk_total_bytes !== undefined) o.disk_total_bytes = v.disk_total_bytes;
        observations.push(o);
      }
    }
    offset += ph.minutes * MIN;
  }
  return { observations, onboarding: p.onboarding?.(start) ?? [], description: p.description };
}
