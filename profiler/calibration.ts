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
  /** ISO time of the measurement; null for provisional values. */
  measured_at: z.string().nullable(),
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

/**
 * Input the calibration expects from the ingestion and mediation benchmarks (written by their owners):
 * measured throughput and the cores it used, plus the mongod's resident memory at the end of the run.
 */
export const benchResultsSchema = z.object({
  ingest: z.object({ samples_per_s: z.number().positive(), cores: z.number().positive() }),
  mediation: z.object({ samples_per_s: z.number().positive(), cores: z.number().positive() }),
  mongod_rss_bytes: z.number().positive(),
  /** Optional: WiredTiger cache bytes in use at the end of the run (subtracted from RSS for the base). */
  wiredtiger_cache_bytes: z.number().nonnegative().optional(),
});
export type BenchResults = z.infer<typeof benchResultsSchema>;

/**
 * Derives the model's constants from benchmark results: throughputs are divided by the cores used;
 * the base memory is the mongod RSS minus its cache (when reported). Constants the benchmarks do not
 * measure (cache minimum, cached fraction) are carried over from `previous`.
 */
export function calibrate(results: unknown, source: string, previous: Calibration, now = new Date()): Calibration {
  const r = benchResultsSchema.safeParse(results);
  if (!r.success) throw new Error(`benchmark results: ${firstIssue(r.error)} (expected {ingest:{samples_per_s, cores}, mediation:{samples_per_s, cores}, mongod_rss_bytes})`);
  const b = r.data;
  const base = (b.mongod_rss_bytes - (b.wiredtiger_cache_bytes ?? 0)) / 2 ** 20;
  return {
    ...previous,
    ingest_samples_per_s_per_core: b.ingest.samples_per_s / b.ingest.cores,
    mediation_samples_per_s_per_core: b.mediation.samples_per_s / b.mediation.cores,
    mongod_base_rss_mb: Math.max(0, Math.round(base)),
    source,
    measured_at: now.toISOString(),
  };
}
