/**
 * Parser benchmark (`metering bench parse`): the product's own work per sample on the ingestion hot
 * path, against `JSON.parse` of the same bytes, side by side in one process and one run.
 *
 * For each wire form the same real samples (Bitbrains trace rows through the profiler's sampler, signed
 * with Ceilometer's default secret) are encoded once, then timed in rounds, floor and hot path taking
 * turns slice by slice (about 1,000 samples each) within a round:
 *  - floor: `JSON.parse(buffer.toString())` of every body/value (for the oslo envelope also of the inner
 *    `oslo.message` string, since that is JSON too);
 *  - hot path: everything from the raw bytes to documents ready to insert — parse, validation,
 *    signature verification (`signaturePolicy: reject`), normalisation, the ingestor's screen (storable as
 *    sent, plausible: `screenSamples`), the `meter` documents with their BSON size (`prepareSample`), the `resource` upserts still due after the resource cache
 *    (`ResourceTracker`), and the stored-sample records handed to the observers.
 * `ratio = hot_path_us / json_parse_us`, both per sample, each the median of the rounds, timed as CPU
 * time of the process (`process.cpuUsage`, all threads, so garbage collection counts) rather than wall
 * time, which on a shared machine mostly measures the other tenants.
 *
 * Forms: `http` = http publisher bodies of 500 signed counter_* items; `kafka` = one signed counter_*
 * message per Kafka value (the kafka:// publisher); `notification` = oslo notifier envelopes of 50.
 */
import path from 'node:path';
import { parseHttpBody, parseKafkaValue, type NormalizeOptions, type NormalizeResult } from '../pipeline/ceilometer/normalize';
import { CEILOMETER_DEFAULT_SECRET, httpBody, kafkaValues } from '../pipeline/replay/encode';
import type { Sample, StoredSample } from '../pipeline/sample';
import { prepareSample, storedSample, type PreparedSample } from '../pipeline/store/layout';
import { ResourceTracker } from '../pipeline/store/resource-cache';
import { ingestConfig } from '../pipeline/config';
import { screenSamples, type ScreenConfig } from '../pipeline/ingest/screen';
import { resourceOperations } from '../pipeline/store/resource';
import { REPO } from '../services/paths';
import { benchSamples } from './ingest';

export type ParseForm = 'http' | 'kafka' | 'notification';
export const PARSE_FORMS: readonly ParseForm[] = ['http', 'kafka', 'notification'];

export interface ParseBenchOptions {
  /** Samples per form (default 20,000). */
  samples?: number;
  /** Timed rounds per form (default 7; the median counts). */
  rounds?: number;
  /** Bitbrains trace directory. */
  traces?: string;
  /** Progress lines on stderr. */
  verbose?: boolean;
}

export interface ParseFormResult {
  samples: number;
  /** Wire bytes per sample of this form. */
  bytes_per_sample: number;
  json_parse_us: number;
  hot_path_us: number;
  ratio: number;
  /** µs per sample of each stage of the hot path, timed alone. */
  stages: Record<string, number>;
  /** Resource upserts the hot path still sent (after the resource cache), per sample. */
  resource_ops_per_sample: number;
}

export interface ParseBenchResult extends ParseFormResult {
  benchmark: 'parse';
  measured_at: string;
  command: string;
  node: string;
  rounds: number;
  signature_verification: true;
  /** The same figures per wire form; the top-level figures are those of `http`. */
  forms: Record<ParseForm, ParseFormResult>;
  targets: { ratio: number; stretch: number; met: boolean };
}

/** CPU time of this process (user + system, all its threads) in ms: on a shared, busy machine far steadier than wall time. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function defaultTraces(): string {
  return path.join(process.env.METERING_SHARED_DIR ?? path.resolve(REPO, '../shared'), 'data', 'traces', 'bitbrains-rnd');
}

/** The wire inputs of one form. */
function encode(samples: readonly Sample[], form: ParseForm, secret: string): Buffer[] {
  if (form === 'http') {
    const out: Buffer[] = [];
    for (let i = 0; i < samples.length; i += 500) out.push(Buffer.from(httpBody(samples.slice(i, i + 500), 'counter', secret)));
    return out;
  }
  return kafkaValues(samples, form === 'kafka' ? 'counter' : 'notifier', secret, 50).map((v) => Buffer.from(v));
}

/** The floor: JSON.parse of the same bytes (and of the inner notification of an oslo envelope), of inputs [from, to). */
function jsonFloor(inputs: readonly Buffer[], form: ParseForm, from = 0, to = inputs.length): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const b = inputs[i]!;
    const v = JSON.parse(b.toString('utf8'));
    if (form === 'notification') n += JSON.parse(v['oslo.message']).payload.length;
    else n += Array.isArray(v) ? v.length : 1;
  }
  return n;
}

/** The ingestor's screen with the shipped defaults (`ingest.maxMetadataDepth`, `ingest.plausibility`). */
const SCREEN: ScreenConfig = ingestConfig.parse({});

/**
 * The per-sample work after parsing, as `Ingestor.submit` and the writer do it: the screen (storable as
 * sent, plausible), meter documents, resource upserts still due, observer records.
 */
function prepareAll(samples: readonly Sample[], tracker: ResourceTracker, recordedAt: Date): { prepared: PreparedSample[]; ops: number; stored: StoredSample[] } {
  const screened = screenSamples(samples, SCREEN, recordedAt);
  if (screened.refused.length) throw new Error(`bench parse: the screen refused a sample: ${screened.refused[0]!.reason}`);
  const prepared = screened.kept.map((k) => prepareSample(k.sample, recordedAt));
  const due = tracker.due(prepared);
  const ops = due.length ? resourceOperations(due, tracker.existing(due)).length : 0;
  tracker.confirm(due);
  const stored = prepared.map(storedSample);
  return { prepared, ops, stored };
}

// one options object per setting, as the HTTP route and the Kafka consumer hold theirs
const optionsCache = new Map<string, NormalizeOptions>();
function parseOne(input: Buffer, form: ParseForm, secret: string, verify = true): NormalizeResult {
  const key = `${verify}\u0000${secret}`;
  let opts = optionsCache.get(key);
  if (!opts) optionsCache.set(key, (opts = { secret, signaturePolicy: verify ? 'reject' : 'off' }));
  return form === 'http' ? parseHttpBody(input, opts) : parseKafkaValue(input, opts);
}

function benchForm(samples: readonly Sample[], form: ParseForm, rounds: number, secret: string): ParseFormResult {
  const inputs = encode(samples, form, secret);
  const n = samples.length;
  const bytes = inputs.reduce((a, b) => a + b.length, 0);
  const check = (parsed: NormalizeResult) => {
    if (parsed.rejects.length) throw new Error(`bench parse (${form}): the hot path rejected a sample: ${parsed.rejects[0]!.reason}`);
  };
  // The hot path over inputs [from, to) of one round, whose state (resource cache, arrival time, the
  // batch being gathered) lives in `r`; `flush` ends the round's last batch.
  interface Round {
    tracker: ResourceTracker;
    recordedAt: Date;
    pending: Sample[];
    ops: number;
  }
  const newRound = (): Round => ({ tracker: new ResourceTracker(), recordedAt: new Date(), pending: [], ops: 0 });
  const hot = (r: Round, from: number, to: number, flush: boolean): void => {
    // Batches as the ingestor sees them: one body, or the values of one Kafka fetch (~500 samples).
    for (let i = from; i < to; i++) {
      const parsed = parseOne(inputs[i]!, form, secret);
      check(parsed);
      for (const s of parsed.samples) r.pending.push(s);
      if (r.pending.length >= 500) {
        r.ops += prepareAll(r.pending, r.tracker, r.recordedAt).ops;
        r.pending = [];
      }
    }
    if (flush && r.pending.length) {
      r.ops += prepareAll(r.pending, r.tracker, r.recordedAt).ops;
      r.pending = [];
    }
  };
  // Inputs per slice: about 1,000 samples. Floor and hot path take turns slice by slice (which goes
  // first alternates), so a burst of the other tenants' load lands on both alike: whole rounds in turn
  // let one burst inflate one side of a round, and a run's ratio moved by ±0.3 with them.
  const slice = Math.max(1, Math.round((1000 * inputs.length) / n));
  const timedRound = (): { floor: number; hot: number; ops: number } => {
    const r = newRound();
    let floor = 0;
    let hotMs = 0;
    for (let from = 0, k = 0; from < inputs.length; from += slice, k++) {
      const to = Math.min(inputs.length, from + slice);
      const last = to === inputs.length;
      for (let turn = 0; turn < 2; turn++) {
        const t = cpuMs();
        if ((turn === 0) === (k % 2 === 0)) {
          jsonFloor(inputs, form, from, to);
          floor += cpuMs() - t;
        } else {
          hot(r, from, to, last);
          hotMs += cpuMs() - t;
        }
      }
    }
    return { floor, hot: hotMs, ops: r.ops };
  };
  // Warm up both (JIT), then timed rounds.
  if (jsonFloor(inputs, form) !== n) throw new Error(`bench parse (${form}): JSON floor counted the wrong number of samples`);
  const ops = timedRound().ops;
  timedRound();
  const floorUs: number[] = [];
  const hotUs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = timedRound();
    floorUs.push((t.floor * 1000) / n);
    hotUs.push((t.hot * 1000) / n);
  }
  // Stages alone (median of 3): parse+validate+verify, then the document work on its output.
  const parseUs: number[] = [];
  const prepareUs: number[] = [];
  const unsignedUs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const u = cpuMs();
    for (const i of inputs) parseOne(i, form, secret, false);
    unsignedUs.push(((cpuMs() - u) * 1000) / n);
    let t = cpuMs();
    const parsed = inputs.map((i) => parseOne(i, form, secret).samples);
    parseUs.push(((cpuMs() - t) * 1000) / n);
    const all = parsed.flat();
    t = cpuMs();
    prepareAll(all, new ResourceTracker(), new Date());
    prepareUs.push(((cpuMs() - t) * 1000) / n);
  }
  const json = median(floorUs);
  const hotPath = median(hotUs);
  return {
    samples: n,
    bytes_per_sample: Math.round(bytes / n),
    json_parse_us: round(json),
    hot_path_us: round(hotPath),
    ratio: round(hotPath / json),
    stages: {
      parse_validate_verify: round(median(parseUs)),
      parse_validate_without_signature: round(median(unsignedUs)),
      documents_resources_observers: round(median(prepareUs)),
    },
    resource_ops_per_sample: round(ops / n, 4),
  };
}

export async function runParseBench(options: ParseBenchOptions = {}): Promise<ParseBenchResult> {
  const n = options.samples ?? 20_000;
  const rounds = options.rounds ?? 7;
  const say = (msg: string) => options.verbose && process.stderr.write(`bench parse: ${msg}\n`);
  const samples = await benchSamples(options.traces ?? defaultTraces(), n);
  say(`${n} samples from Bitbrains traces, ${rounds} rounds per form, signature verification on`);
  const forms = {} as Record<ParseForm, ParseFormResult>;
  for (const form of PARSE_FORMS) {
    forms[form] = benchForm(samples, form, rounds, CEILOMETER_DEFAULT_SECRET);
    say(`${form}: JSON.parse ${forms[form].json_parse_us} µs, hot path ${forms[form].hot_path_us} µs per sample, ratio ${forms[form].ratio}`);
  }
  const worst = Math.max(...PARSE_FORMS.map((f) => forms[f].ratio));
  return {
    benchmark: 'parse',
    measured_at: new Date().toISOString(),
    command: `node bin/metering.mjs bench parse --samples ${n} --json`,
    node: process.version,
    rounds,
    signature_verification: true,
    ...forms.http,
    forms,
    targets: { ratio: 3, stretch: 2, met: worst <= 3 },
  };
}

export function formatParseTable(r: ParseBenchResult): string {
  const rows = [['form', 'B/sample', 'JSON.parse µs', 'hot path µs', 'ratio', 'parse+verify µs', 'same unsigned µs', 'documents µs', 'resource ops/sample']];
  for (const f of PARSE_FORMS) {
    const x = r.forms[f];
    rows.push([f, String(x.bytes_per_sample), x.json_parse_us.toFixed(2), x.hot_path_us.toFixed(2), x.ratio.toFixed(2), String(x.stages.parse_validate_verify), String(x.stages.parse_validate_without_signature), String(x.stages.documents_resources_observers), String(x.resource_ops_per_sample)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return [
    ...lines,
    '',
    `${r.samples} samples per form, signed, signature verification on; medians of ${r.rounds} alternating rounds (${r.node})`,
    `target ratio ≤ ${r.targets.ratio} (stretch ≤ ${r.targets.stretch}): ${r.targets.met ? 'met' : 'NOT met'}`,
    '',
  ].join('\n');
}
