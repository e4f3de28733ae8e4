import { z } from 'zod';

/** Numeric metrics an observation may carry (any subset). */
export const METRIC_FIELDS = ['cpu', 'memory', 'disk', 'reads_per_s', 'writes_per_s', 'query_ms', 'disk_total_bytes'] as const;
export type MetricField = (typeof METRIC_FIELDS)[number];

/**
 * One shard's metrics at one instant: cpu/memory/disk in percent of the hosting VM(s), reads/writes
 * per second and average query time (ms) from serverStatus deltas, and optionally the shard's disk
 * size in bytes (dbStats.fsTotalSize) for storage projections.
 */
export interface Observation {
  t: Date;
  shard: string;
  cpu?: number;
  memory?: number;
  disk?: number;
  reads_per_s?: number;
  writes_per_s?: number;
  query_ms?: number;
  disk_total_bytes?: number;
}

/**
 * A predictive signal: the estimator's forecast for a newly onboarded stack, known at `t`, with data
 * starting to arrive at `arrives_at`.
 */
export interface OnboardingEstimate {
  t: Date;
  arrives_at: Date;
  bytes_per_day: number;
  events_per_s: number;
  /** Free text to name the stack in decision reasons. */
  label?: string;
}

const isoDate = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), { message: 'expected an ISO 8601 date-time, e.g. 2026-01-01T00:00:00Z' })
  .transform((s) => new Date(s));
const nonNeg = z.number().finite().min(0);

const observationLine = z.strictObject({
  t: isoDate,
  shard: z.string().min(1),
  cpu: nonNeg.optional(),
  memory: nonNeg.optional(),
  disk: nonNeg.optional(),
  reads_per_s: nonNeg.optional(),
  writes_per_s: nonNeg.optional(),
  query_ms: nonNeg.optional(),
  disk_total_bytes: z.number().positive().optional(),
});

const onboardingLine = z.strictObject({
  t: isoDate,
  onboarding: z.strictObject({
    arrives_at: isoDate,
    bytes_per_day: nonNeg,
    events_per_s: nonNeg,
    label: z.string().optional(),
  }),
});

export interface ParsedSeries {
  observations: Observation[];
  onboarding: OnboardingEstimate[];
}

/** A bad line in a metrics file; `line` is 1-based. */
export class MetricsLineError extends Error {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super(`${file}:${line}: ${detail}`);
  }
}

/**
 * Parse a metrics JSONL text: one observation per line (`t`, `shard`, any metric), or an onboarding
 * estimate line `{"t":…, "onboarding":{"arrives_at":…, "bytes_per_day":…, "events_per_s":…}}`. Blank
 * lines and lines starting with `#` are skipped. The first bad line throws with its number.
 */
export function parseMetricsJsonl(text: string, file = '<input>'): ParsedSeries {
  const observations: Observation[] = [];
  const onboarding: OnboardingEstimate[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new MetricsLineError(file, i + 1, `not valid JSON (${(err as Error).message})`);
    }
    if (value && typeof value === 'object' && !Array.isArray(value) && 'onboarding' in value) {
      const r = onboardingLine.safeParse(value);
      if (!r.success) throw new MetricsLineError(file, i + 1, describe(r.error));
      onboarding.push({ t: r.data.t, ...r.data.onboarding });
      continue;
    }
    const r = observationLine.safeParse(value);
    if (!r.success) throw new MetricsLineError(file, i + 1, describe(r.error));
    const obs: Observation = { t: r.data.t, shard: r.data.shard };
    for (const f of METRIC_FIELDS) if (r.data[f] !== undefined) obs[f] = r.data[f];
    observations.push(obs);
  }
  return { observations, onboarding };
}

function describe(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.join('.');
      if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.join(', ')} (allowed: t, shard, ${METRIC_FIELDS.join(', ')}, or onboarding)`;
      if (i.code === 'invalid_type' && /received undefined/.test(i.message)) return `missing field "${where}"`;
      return `${where || 'line'}: ${i.message}`;
    })
    .join('; ');
}

/** Serialise an observation as one JSONL line (t as ISO). */
export function observationToJson(o: Observation): Record<string, unknown> {
  const out: Record<string, unknown> = { t: o.t.toISOString(), shard: o.shard };
  for (const f of METRIC_FIELDS) if (o[f] !== undefined) out[f] = round(o[f]!);
  return out;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
