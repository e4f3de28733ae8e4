import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import type { IngestConfig, StoreConfig } from '../../pipeline/config';
import { createIngestion } from '../../pipeline/ingest/pipeline-factory';
import type { Sample } from '../../pipeline/sample';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { topologyOf } from '../../pipeline/store/writer';
import { estimateStack, type Estimate } from '../estimate';
import { SizeTracker } from '../event-size';
import { iterateStackSamples, generateStackSamples } from '../generator';
import { MASTER_POLLING_YAML, parsePolling, type PollingConfig } from '../polling';
import { collectedIn } from '../onboarding/collected';
import { accuracy, periodSeconds, round6, type PeriodName } from '../onboarding/compare';
import { periodsSchema } from '../config';

/**
 * The measured estimate-vs-actual check: real Heat templates are estimated, their samples for a whole
 * simulated day / week / month are generated (every poll, no extrapolation) and pushed through the
 * real ingestion path (createIngestion → Ingestor.submit, which resolves after the durable write)
 * into MongoDB; then the estimated events and bytes are compared with the stored `meter` documents.
 *
 * Size model, the paper's method: per-meter sizes are the mean of the last three stored documents
 * observed on the ingestion hook (SizeTracker), primed by a warm-up — an earlier stack of the same
 * template in the same deployment under another name ("<name>-staging", three polls, its own project
 * and database) — never by the samples being measured. The priors-only figure is reported beside it.
 */

export interface AccuracyTemplate {
  file: string;
  params?: Record<string, unknown>;
}

export interface AccuracyOptions {
  client: MongoClient;
  /** Database name prefix; each case uses `<prefix>_w<i>` (warm-up) and `<prefix>_c<i>` (measured). */
  dbPrefix: string;
  store: StoreConfig;
  ingest: IngestConfig;
  templates: AccuracyTemplate[];
  periods: PeriodName[];
  /** Polling interval (s) per period. */
  intervals: Record<PeriodName, number>;
  periodSeconds?: Record<PeriodName, number>;
  /** Simulated start of every measured stack. Default 2024-01-01T00:00:00Z. */
  start?: Date;
  /** Refuse a case whose sample count would exceed this (use a longer interval or a smaller template). */
  maxEvents?: number;
  /** Samples per submit call. Default 1000. */
  batchSize?: number;
  /** Keep the databases afterwards (default: dropped). */
  keep?: boolean;
  /**
   * Which polls of the earlier stack the size tracker observes: `aged` (default) its last three polls
   * after it has run for the measured period (the deployment's steady state, counters grown), or
   * `fresh` its first three polls (a stack that has just started).
   */
  warmup?: 'aged' | 'fresh';
  /** Called once with the number of samples all cases will ingest, then per submitted batch. */
  onPlan?: (totalSamples: number) => void;
  onProgress?: (samples: number, label: string) => void;
}

export interface Quantity {
  estimated: number;
  actual: number;
  accuracy: number;
}

export interface AccuracyCase {
  template: string;
  stack: string;
  period: PeriodName;
  period_s: number;
  interval_s: number;
  series: number;
  warmup_samples: number;
  events: Quantity;
  /** Estimate with observed sizes (warm-up), vs the actual stored bytes. */
  bytes: Quantity;
  /** Estimate with the measured priors only, vs the same actual bytes. */
  bytes_priors: Quantity;
  /** Meters sized from observations / from priors in the observed-size estimate. */
  observed_meters: number;
  prior_meters: number;
  /** Both measurements of the stored bytes: BSON sizes of the documents, and the server's collStats size. */
  stored: { bson_sum: number; bson_method: string; coll_size: number | null };
  ingest_ms: number;
  warnings: string[];
}

export interface AccuracySummary {
  cases: number;
  events: Quantity;
  bytes: Quantity;
  bytes_priors: Quantity;
  /** Lowest per-case accuracy. */
  min: { events: number; bytes: number; bytes_priors: number };
}

export interface AccuracyReport {
  generated_at: string;
  tier: 'real' | 'standin';
  server: string;
  /** How "actual bytes" was measured (depends on the tier). */
  actual_bytes_method: string;
  size_model: string;
  warmup: string;
  start: string;
  target: number;
  met: boolean;
  cases: AccuracyCase[];
  per_period: Partial<Record<PeriodName, AccuracySummary>>;
  overall: AccuracySummary;
}

export const DEFAULT_INTERVALS: Record<PeriodName, number> = { day: 300, week: 1800, month: 3600 };
/** estimator.periods defaults (day, 7 days, 30 days). */
export const DEFAULT_PERIOD_SECONDS: Record<PeriodName, number> = periodSeconds(periodsSchema.parse(undefined));
export const TARGET_ACCURACY = 0.995;
const WARMUP_POLLS = 3;

/** Ceilometer master's polling.yaml with every source at `intervalS`. */
export function pollingAt(intervalS: number): PollingConfig {
  if (!Number.isInteger(intervalS) || intervalS <= 0) throw new RangeError(`polling interval must be a positive whole number of seconds, got ${intervalS}`);
  return parsePolling(MASTER_POLLING_YAML.replace('interval: 300', `interval: ${intervalS}`), `<master polling.yaml at ${intervalS} s>`);
}

const q = (estimated: number, actual: number): Quantity => ({ estimated, actual, accuracy: round6(accuracy(estimated, actual)) });
const perPeriod = (e: Estimate, p: PeriodName) => ({ events: e.events[`per_${p}`], bytes: e.bytes[`per_${p}`] });

function summarize(cases: AccuracyCase[]): AccuracySummary {
  const sum = (f: (c: AccuracyCase) => number) => cases.reduce((a, c) => a + f(c), 0);
  const min = (f: (c: AccuracyCase) => number) => (cases.length ? Math.min(...cases.map(f)) : 1);
  return {
    cases: cases.length,
    events: q(sum((c) => c.events.estimated), sum((c) => c.events.actual)),
    bytes: q(sum((c) => c.bytes.estimated), sum((c) => c.bytes.actual)),
    bytes_priors: q(sum((c) => c.bytes_priors.estimated), sum((c) => c.bytes_priors.actual)),
    min: { events: min((c) => c.events.accuracy), bytes: min((c) => c.bytes.accuracy), bytes_priors: min((c) => c.bytes_priors.accuracy) },
  };
}

async function serverInfo(db: Db): Promise<{ tier: 'real' | 'standin'; server: string; replicated: boolean }> {
  const status = (await db.admin().command({ serverStatus: 1 })) as { process?: string; version?: string };
  const tier = status.process === 'mongod' || status.process === 'mongos' ? 'real' : 'standin';
  const topology = topologyOf(await db.admin().command({ isMaster: 1 }));
  return { tier, server: `${status.process ?? '?'} ${status.version ?? ''}`.trim(), replicated: topology.kind !== 'standalone' };
}

/** The collection's data size as the server reports it (collStats `size`: uncompressed BSON bytes). */
async function collSize(db: Db): Promise<number | null> {
  try {
    const s = (await db.command({ collStats: COLLECTIONS.meter })) as { size?: number };
    return typeof s.size === 'number' ? s.size : null;
  } catch {
    return null;
  }
}

async function ingestAll(db: Db, store: StoreConfig, ingest: IngestConfig, samples: Iterable<Sample>, batchSize: number, tracker?: SizeTracker, progress?: (n: number) => void): Promise<number> {
  const ingestion = await createIngestion({ store: { ...store, database: db.databaseName }, ingest }, { db });
  if (tracker) ingestion.hub.register(tracker);
  let stored = 0;
  try {
    let batch: Sample[] = [];
    const flush = async () => {
      const r = await ingestion.ingestor.submit(batch);
      if (r.rejected > 0) throw new Error(`ingestion rejected ${r.rejected} of ${batch.length} generated samples (see the dead_letter collection of ${db.databaseName})`);
      stored += r.stored;
      progress?.(batch.length);
      batch = [];
    };
    for (const s of samples) {
      batch.push(s);
      if (batch.length >= batchSize) await flush();
    }
    if (batch.length) await flush();
  } finally {
    await ingestion.close();
  }
  return stored;
}

const stackBase = (file: string) => path.basename(file).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9-]+/g, '-').toLowerCase();

export async function measureAccuracy(opts: AccuracyOptions): Promise<AccuracyReport> {
  const periodSeconds = opts.periodSeconds ?? DEFAULT_PERIOD_SECONDS;
  const start = opts.start ?? new Date(Date.UTC(2024, 0, 1));
  const batchSize = opts.batchSize ?? 1000;
  const warmup = opts.warmup ?? 'aged';
  const maxEvents = opts.maxEvents ?? 250_000;
  const admin = opts.client.db(`${opts.dbPrefix}_admin`);
  const info = await serverInfo(admin);
  // `majority` means nothing on a standalone (the stand-in is one) and the writer refuses it there;
  // the check measures counts and sizes, not durability, so w:1 is used on a standalone.
  const store: StoreConfig = !info.replicated && opts.store.writeConcern === 'majority' ? { ...opts.store, writeConcern: 1 } : opts.store;
  const readFile = (f: string) => readFileSync(f, 'utf8');

  // Plan every case first: estimates are cheap, and the total drives the progress bar.
  interface Planned { t: AccuracyTemplate; period: PeriodName; interval: number; polling: PollingConfig; base: string; priors: Estimate; samples: number }
  const planned: Planned[] = [];
  for (const t of opts.templates) {
    for (const period of opts.periods) {
      const interval = opts.intervals[period];
      const polling = pollingAt(interval);
      const base = stackBase(t.file);
      const priors = estimateStack({ template: { text: readFile(t.file), file: t.file }, params: t.params, readFile, pollingConfig: polling, stackName: `${base}-prod` });
      const samples = perPeriod(priors, period).events;
      if (samples > maxEvents) {
        throw new RangeError(`${t.file}: ${samples.toLocaleString('en-US')} samples for a ${period} at ${interval} s polling exceeds --max-events ${maxEvents.toLocaleString('en-US')}; use a longer --interval or a smaller template`);
      }
      if (samples === 0) throw new RangeError(`${t.file}: the stack produces no polled samples (${priors.warnings.join('; ') || 'no metered resources'})`);
      planned.push({ t, period, interval, polling, base, priors, samples: samples + (priors.events.per_interval > 0 ? WARMUP_POLLS * Math.ceil(priors.events.per_interval) : 0) });
    }
  }
  opts.onPlan?.(planned.reduce((a, p) => a + p.samples, 0));

  const cases: AccuracyCase[] = [];
  let i = 0;
  for (const p of planned) {
    const label = `${path.basename(p.t.file)} ${p.period}`;
    const warmDb = opts.client.db(`${opts.dbPrefix}_w${i}`);
    const caseDb = opts.client.db(`${opts.dbPrefix}_c${i}`);
    i++;
    try {
      // 1. warm-up: an earlier stack of the same template, observed on the ingestion hook
      const tracker = new SizeTracker();
      const text = readFile(p.t.file);
      const staging = estimateStack({ template: { text, file: p.t.file }, params: p.t.params, readFile, pollingConfig: p.polling, stackName: `${p.base}-staging` });
      const warmSeconds = warmup === 'aged' ? periodSeconds[p.period] : WARMUP_POLLS * p.interval;
      const warmStart = new Date(start.getTime() - warmSeconds * 1000);
      const lastPolls = warmStart.getTime() + (Math.ceil(warmSeconds / p.interval) - WARMUP_POLLS) * p.interval * 1000;
      const warm = generateStackSamples(staging.plan, warmSeconds, warmStart, { projectId: `warmup-${p.base}` }).filter((s) => s.timestamp.getTime() >= lastPolls);
      await ingestAll(warmDb, store, opts.ingest, warm, batchSize, tracker, (n) => opts.onProgress?.(n, `${label} (warm-up)`));

      // 2. the estimates: observed sizes (the paper's method) and priors only
      const observed = estimateStack({ template: { text, file: p.t.file }, params: p.t.params, readFile, pollingConfig: p.polling, stackName: `${p.base}-prod`, sizeModel: { method: 'per-meter', tracker } });
      const est = perPeriod(observed, p.period);
      const estPriors = perPeriod(p.priors, p.period);

      // 3. the stack's whole period through the real ingestion path
      const projectId = `accuracy-${p.base}-${p.period}`;
      const t0 = Date.now();
      const ingested = await ingestAll(caseDb, store, opts.ingest, iterateStackSamples(observed.plan, periodSeconds[p.period], start, { projectId }), batchSize, undefined, (n) => opts.onProgress?.(n, label));
      const ingestMs = Date.now() - t0;

      // 4. what the store holds
      const end = new Date(start.getTime() + periodSeconds[p.period] * 1000);
      const got = await collectedIn(caseDb, { project_id: projectId, by: 'project', start, end });
      if (got.events !== ingested) {
        throw new Error(`${label}: ${ingested} samples were acknowledged as stored but ${got.events} are in ${caseDb.databaseName}.meter — was the MongoDB restarted during the run? The measurement is void.`);
      }
      const size = await collSize(caseDb);
      const actualBytes = info.tier === 'real' && size !== null ? size : got.bytes;
      cases.push({
        template: p.t.file,
        stack: observed.stack,
        period: p.period,
        period_s: periodSeconds[p.period],
        interval_s: p.interval,
        series: observed.meters.reduce((a, m) => a + m.resources, 0),
        warmup_samples: warm.length,
        events: q(est.events, got.events),
        bytes: q(est.bytes, actualBytes),
        bytes_priors: q(estPriors.bytes, actualBytes),
        observed_meters: observed.meters.filter((m) => m.size_source === 'observed').length,
        prior_meters: observed.meters.filter((m) => m.size_source !== 'observed').length,
        stored: { bson_sum: got.bytes, bson_method: got.bytes_method, coll_size: size },
        ingest_ms: ingestMs,
        warnings: observed.warnings,
      });
    } finally {
      if (!opts.keep) {
        await warmDb.dropDatabase().catch(() => undefined);
        await caseDb.dropDatabase().catch(() => undefined);
      }
    }
  }
  if (!opts.keep) await admin.dropDatabase().catch(() => undefined);

  const per_period: Partial<Record<PeriodName, AccuracySummary>> = {};
  for (const period of opts.periods) per_period[period] = summarize(cases.filter((c) => c.period === period));
  const overall = summarize(cases);
  return {
    generated_at: new Date().toISOString(),
    tier: info.tier,
    server: info.server,
    actual_bytes_method:
      info.tier === 'real'
        ? 'collStats size of the meter collection (the collection\'s dataSize: uncompressed BSON bytes)'
        : 'sum of the BSON sizes of the stored meter documents read back (the stand-in\'s dataSize is its own estimate; it is reported beside it as coll_size)',
    size_model: 'per-meter: mean of the last three stored document sizes per meter (SizeTracker on the ingestion hook), prior where a meter was not observed',
    warmup:
      warmup === 'aged'
        ? `the last ${WARMUP_POLLS} polls of the same template deployed earlier as "<name>-staging" after it has run for the measured period (own ids, project and database), not the measured samples`
        : `the first ${WARMUP_POLLS} polls of the same template deployed earlier as "<name>-staging" (own ids, project and database), not the measured samples`,
    start: start.toISOString(),
    target: TARGET_ACCURACY,
    met: overall.events.accuracy >= TARGET_ACCURACY && overall.bytes.accuracy >= TARGET_ACCURACY,
    cases,
    per_period,
    overall,
  };
}
