import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * Constants of the offline resource predictor's model, kept in profiler/calibration.json with the
 * measurement they came from. `calibrate()` derives them from benchmark results so the procedure can
 * be re-run whenever hardware or MongoDB version changes.
 */

export const calibrationSchema = z.strictObject({
  /** Samples one mongod member ingests per second per core (primary insert or secondary oplog apply). */
  ingest_samples_per_s_per_core: z.number().positive(),
  /** Samples one shard's mediation aggregation scans per second on one core. */
  mediation_samples_per_s_per_core: z.number().positive(),
  /** Resident memory of a mongod member besides its WiredTiger cache, MiB. */
  mongod_base_rss_mb: z.number().nonnegative(),
  /** Smallest WiredTiger cache a member is given, MiB (MongoDB's minimum is 256). */
  wiredtiger_cache_min_mb: z.number().positive(),
  /** Fraction of a shard's queried ("hot") data its cache should hold. */
  cache_fraction_of_hot_data: z.number().nonnegative().max(1),
  /** Where the numbers come from (benchmark, command, machine). */
  source: z.string().min(1),
  /** ISO time of the measurement; null while any constant is still provisional. */
  measured_at: z.string().nullable(),
  /** When each part (ingest, mediation, memory) was last measured; absent parts are provisional. */
  measured: z.strictObject({ ingest: z.string().optional(), mediation: z.string().optional(), memory: z.string().optional() }).optional(),
});
export type Calibration = z.infer<typeof calibrationSchema>;

export const CALIBRATION_FILE = fileURLToPath(new URL('./calibration.json', import.meta.url));

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

/** Reads and validates a calibration file (default: profiler/calibration.json). */
export function loadCalibration(file = CALIBRATION_FILE): Calibration {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read calibration: ${(err as Error).message}`);
  }
  const r = calibrationSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: invalid calibration: ${firstIssue(r.error)}`);
  return r.data;
}

/** The constants a benchmark can measure. */
export const CALIBRATION_PARTS = ['ingest', 'mediation', 'memory'] as const;
export type CalibrationPart = (typeof CALIBRATION_PARTS)[number];

const throughput = z.strictObject({
  /** Samples per second the benchmark sustained. */
  samples_per_s: z.number().positive(),
  /** CPU cores the mongod(s) used meanwhile (CPU seconds / wall seconds), so throughput per core = samples_per_s / cores. */
  cores: z.number().positive(),
});

/**
 * Input the calibration takes (all parts optional, at least one): measured throughput and the cores it
 * used, and the mongod's resident memory at the end of the run. Parts not given keep their value.
 */
export const benchResultsSchema = z
  .object({
    ingest: throughput.optional(),
    mediation: throughput.optional(),
    mongod_rss_bytes: z.number().positive().optional(),
    /** WiredTiger cache bytes in use at the end of the run (subtracted from RSS for the base). */
    wiredtiger_cache_bytes: z.number().nonnegative().optional(),
  })
  .refine((b) => b.ingest !== undefined || b.mediation !== undefined || b.mongod_rss_bytes !== undefined, {
    message: 'nothing to calibrate from: expected ingest, mediation or mongod_rss_bytes',
  });
export type BenchResults = z.infer<typeof benchResultsSchema>;

/**
 * One benchmark's own output file, e.g. `out/bench/ingest.json` of `bench/ingest.ts`:
 *   {"benchmark": "ingest", "samples_per_s": 41000, "mongod_cores": 1.6, "mongod_rss_bytes": 4.3e8,
 *    "wiredtiger_cache_bytes": 2.5e8, …other fields ignored}
 * `benchmark` may be omitted when the file name says it (`ingest…json`, `mediation…json`); `cores` is
 * accepted for `mongod_cores`; a missing core count can be given on the command line.
 */
export const benchFileSchema = z.object({
  benchmark: z.enum(['ingest', 'mediation']).optional(),
  samples_per_s: z.number().positive(),
  mongod_cores: z.number().positive().optional(),
  cores: z.number().positive().optional(),
  mongod_rss_bytes: z.number().positive().optional(),
  wiredtiger_cache_bytes: z.number().nonnegative().optional(),
});

/**
 * Results from one file: the combined shape of `benchResultsSchema`, or one benchmark's own output
 * (`benchFileSchema`). Errors name the file and the field.
 */
export function benchResultsOf(json: unknown, file: string, coresOverride?: number): BenchResults {
  const obj = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  if ('ingest' in obj || 'mediation' in obj || (!('samples_per_s' in obj) && 'mongod_rss_bytes' in obj)) {
    const r = benchResultsSchema.safeParse(json);
    if (!r.success) throw new Error(`${file}: ${firstIssue(r.error)}`);
    return r.data;
  }
  const r = benchFileSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: ${firstIssue(r.error)} (expected {ingest:{samples_per_s, cores}, …} or one benchmark's {benchmark, samples_per_s, mongod_cores, mongod_rss_bytes?})`);
  const b = r.data;
  const base = file.split(/[\\/]/).pop()!.toLowerCase();
  const kind = b.benchmark ?? (base.startsWith('ingest') ? 'ingest' : base.startsWith('mediation') ? 'mediation' : undefined);
  if (!kind) throw new Error(`${file}: benchmark: say which benchmark this is ("ingest" or "mediation"), or name the file ingest*.json / mediation*.json`);
  const cores = coresOverride ?? b.mongod_cores ?? b.cores;
  if (cores === undefined) throw new Error(`${file}: mongod_cores: required (CPU cores the mongod used during the run); give it with --cores if the benchmark did not record it`);
  return {
    [kind]: { samples_per_s: b.samples_per_s, cores },
    ...(b.mongod_rss_bytes !== undefined && { mongod_rss_bytes: b.mongod_rss_bytes }),
    ...(b.wiredtiger_cache_bytes !== undefined && { wiredtiger_cache_bytes: b.wiredtiger_cache_bytes }),
  };
}

/** Later files win for the parts they measure. */
export function mergeBenchResults(all: readonly BenchResults[]): BenchResults {
  return Object.assign({}, ...all) as BenchResults;
}

/**
 * Derives the model's constants from benchmark results: throughputs are divided by the cores used;
 * the base memory is the mongod RSS minus its cache (when reported). Constants the results do not
 * measure are carried over from `previous`. `measured` records when each part was measured;
 * `measured_at` stays null (provisional) until ingest, mediation and memory have all been measured.
 */
export function calibrate(results: unknown, source: string, previous: Calibration, now = new Date()): Calibration {
  const r = benchResultsSchema.safeParse(results);
  if (!r.success) throw new Error(`benchmark results: ${firstIssue(r.error)} (expected {ingest:{samples_per_s, cores}, mediation:{samples_per_s, cores}, mongod_rss_bytes})`);
  const b = r.data;
  const at = now.toISOString();
  const next: Calibration = { ...previous, measured: { ...previous.measured } };
  const parts: string[] = [];
  if (b.ingest) {
    next.ingest_samples_per_s_per_core = b.ingest.samples_per_s / b.ingest.cores;
    next.measured!.ingest = at;
    parts.push('ingest');
  }
  if (b.mediation) {
    next.mediation_samples_per_s_per_core = b.mediation.samples_per_s / b.mediation.cores;
    next.measured!.mediation = at;
    parts.push('mediation');
  }
  if (b.mongod_rss_bytes !== undefined) {
    next.mongod_base_rss_mb = Math.max(0, Math.round((b.mongod_rss_bytes - (b.wiredtiger_cache_bytes ?? 0)) / 2 ** 20));
    next.measured!.memory = at;
    parts.push('memory');
  }
  const missing = CALIBRATION_PARTS.filter((p) => next.measured![p] === undefined);
  next.source =
    parts.length === CALIBRATION_PARTS.length
      ? source
      : `${parts.join(', ')}: ${source}; ${missing.length ? `still provisional: ${missing.join(', ')}` : 'other parts measured earlier'}`;
  next.measured_at = missing.length === 0 ? at : null;
  return next;
}
