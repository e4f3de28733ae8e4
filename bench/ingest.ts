/**
 * Ingestion benchmark (`metering bench ingest`, `npm run bench:ingest`): end-to-end throughput of the
 * product's ingestion paths against raw `insertMany` of the same prepared `meter` documents into the
 * same server in the same run.
 *
 *  - raw:   `insertMany` batches (size ingest.batchMaxSamples, ingest.maxConcurrentBatches at once) into
 *           a `meter` collection with the pipeline's indexes; measured before and after the pipeline
 *           runs, the mean is the reference (the machine is shared, its load drifts);
 *  - http:  the controller listening on loopback, `--clients` concurrent clients POSTing pre-encoded
 *           `as_dict` bodies of `--batch` samples with the ingest token; p50/p99 = request latency;
 *  - kafka: N signed counter_* messages produced to a fresh topic first, then the consumer started:
 *           consume-to-stored time until the store holds all N (and from the first stored batch on).
 *
 * Samples are real: Bitbrains trace rows turned into Ceilometer samples by the profiler's sampler.
 * The figures name the MongoDB tier they were measured on: the product targets (≥ 90 % of raw,
 * ≥ 50,000 samples/s) are defined against a real mongod, not the Java stand-in.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import pino from 'pino';
import { parseConfig, type MeteringConfig } from '../app/config';
import { startApplication, type Application } from '../controller/app';
import { connectStore, resolveIngestionConfig } from '../pipeline/ingest/pipeline-factory';
import { createKafka, ensureTopics } from '../pipeline/kafka/client';
import { CEILOMETER_DEFAULT_SECRET, httpBody, kafkaValues } from '../pipeline/replay/encode';
import { retryAfterSeconds } from '../pipeline/replay/http-sink';
import { produceChunks } from '../pipeline/replay/kafka-sink';
import { traceFiles, traceRowSamples } from '../pipeline/replay/source';
import type { Sample } from '../pipeline/sample';
import { parseHttpBody } from '../pipeline/ceilometer/normalize';
import { COLLECTIONS, prepareSample } from '../pipeline/store/layout';
import { MeterStoreWriter } from '../pipeline/store/writer';
import { ensureServices, servicesStatus, type MongoTier } from '../services/manager';
import { REPO } from '../services/paths';
import { percentile } from '../lib/stats';

export interface IngestBenchOptions {
  /** Samples per path (default 8,000 on the stand-in, 100,000 on a real mongod: about a minute on 2 shared cores). */
  samples?: number;
  /** Concurrent HTTP clients (default 4). */
  clients?: number;
  /** Samples per HTTP body and per raw insertMany (default ingest.batchMaxSamples, 500). */
  batch?: number;
  /** Run the Kafka path (default true). */
  kafka?: boolean;
  /** Bitbrains trace directory (default <shared>/data/traces/bitbrains-rnd). */
  traces?: string;
  /** Results file (default out/bench/ingest.json; '' = none). */
  out?: string;
  /** Progress lines on stderr. */
  verbose?: boolean;
}

export interface PathResult {
  samples: number;
  seconds: number;
  samples_per_s: number;
  /** Per batch (raw: insertMany; http: request) latency. */
  p50_ms?: number;
  p99_ms?: number;
  /** Throughput / raw throughput. */
  ratio_to_raw?: number;
}

export interface IngestBenchResult {
  benchmark: 'ingest';
  measured_at: string;
  command: string;
  /** real = mongod; standin = mongo-java-server (figures are not comparable with the targets). */
  mongoTier: MongoTier;
  /** The pipeline's end-to-end HTTP throughput (what the profiler's calibration reads). */
  samples_per_s: number;
  mongod_cores: number;
  mongod_rss_bytes?: number;
  wiredtiger_cache_bytes?: number;
  machine: { cpus: number; loadavg_before: number[]; loadavg_after: number[]; node: string };
  config: { samples: number; batch: number; clients: number; writeConcern: string | number; batchMaxSamples: number; maxConcurrentBatches: number; avg_bson_bytes: number };
  raw: PathResult & { runs: number[] };
  http: PathResult & { retries: number; batch_failures: number };
  kafka?: PathResult & { batch_failures: number; produce_samples_per_s: number; steady_samples_per_s: number; seconds_to_first_stored: number };
  /** Samples/s of each pipeline stage alone, single stream (where the time goes). */
  stages: Record<string, number>;
  /** Peak RSS of this process (clients, controller and consumer all run in it), MiB. */
  peak_rss_mib: number;
  targets: { raw_ratio: number; samples_per_s: number; defined_on: string; met?: boolean };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

/** Run `jobs` with at most `width` at once. */
async function pool<T>(jobs: readonly T[], width: number, run: (job: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) await run(jobs[next++]!);
    }),
  );
}

/** `n` real samples: rows of every trace VM in trace-time order, each row's Ceilometer samples. */
export async function benchSamples(dir: string, n: number): Promise<Sample[]> {
  const files = traceFiles([dir]);
  const rowsPerVm = Math.ceil(n / 9 / files.length) + 1;
  const out: Sample[] = [];
  for await (const row of traceRowSamples(files, { limitRows: rowsPerVm })) {
    for (const s of row.samples) if (out.length < n) out.push(s);
    if (out.length >= n) break;
  }
  if (out.length < n) throw new Error(`${dir}: the traces give only ${out.length} samples, fewer than --samples ${n}`);
  return out;
}

function defaultTraces(): string {
  return path.join(process.env.METERING_SHARED_DIR ?? path.resolve(REPO, '../shared'), 'data', 'traces', 'bitbrains-rnd');
}

async function rawInsert(db: Db, config: MeteringConfig, samples: readonly Sample[], batch: number): Promise<{ seconds: number; latencies: number[] }> {
  await db.dropDatabase();
  const writer = new MeterStoreWriter(db, config.store);
  await writer.prepare(); // the same indexes as the pipeline's meter collection
  const docs = samples.map((s) => prepareSample(s).doc);
  const batches: (typeof docs)[] = [];
  for (let i = 0; i < docs.length; i += batch) batches.push(docs.slice(i, i + batch));
  const meter = db.collection(COLLECTIONS.meter);
  const latencies: number[] = [];
  const t0 = performance.now();
  await pool(batches, config.ingest.maxConcurrentBatches, async (b) => {
    const t = performance.now();
    await meter.insertMany(b, { ordered: false, writeConcern: writer.writeConcern });
    latencies.push(performance.now() - t);
  });
  const seconds = (performance.now() - t0) / 1000;
  const count = await meter.countDocuments();
  if (count !== samples.length) throw new Error(`raw insertMany stored ${count} of ${samples.length} documents`);
  await db.dropDatabase(); // the stand-in keeps everything in a small JVM heap
  return { seconds, latencies };
}

/**
 * Where the pipeline's time goes, stage by stage, on the same samples (single stream, in this process
 * and the same server): parse the HTTP bodies, build the meter documents, the resource upserts, the
 * meter insertMany. Each as samples/s of that stage alone (resource upserts: those the writer's resource
 * cache still sends).
 */
async function stageBreakdown(db: Db, config: MeteringConfig, samples: readonly Sample[], batch: number): Promise<Record<string, number>> {
  await db.dropDatabase();
  const writer = new MeterStoreWriter(db, config.store);
  await writer.prepare();
  const bodies: Buffer[] = [];
  for (let i = 0; i < samples.length; i += batch) bodies.push(Buffer.from(httpBody(samples.slice(i, i + batch), 'as_dict', '')));
  const rate = (t0: number) => round(samples.length / ((performance.now() - t0) / 1000));
  let t = performance.now();
  const parsed = bodies.map((b) => parseHttpBody(b, { maxBodyBytes: config.ingest.maxBodyBytes }).samples);
  const parse = rate(t);
  t = performance.now();
  const prepared = parsed.map((ss) => ss.map((x) => prepareSample(x)));
  const prepare = rate(t);
  t = performance.now();
  // as the writer does it: only the resource upserts still due after its resource cache
  for (const p of prepared) await writer.writeResources(p);
  const resource = rate(t);
  t = performance.now();
  for (const p of prepared) await db.collection(COLLECTIONS.meter).insertMany(p.map((x) => x.doc), { ordered: false, writeConcern: writer.writeConcern });
  const insert = rate(t);
  await db.dropDatabase();
  return { parse_http_body: parse, prepare_meter_document: prepare, resource_upsert_bulkwrite: resource, meter_insertmany: insert };
}

function benchConfig(uri: string, database: string, tier: MongoTier, token: string, secret: string, kafka?: { brokers: string[]; topic: string; groupId: string }): MeteringConfig {
  const cfg = {
    controller: { host: '127.0.0.1', port: 0, auth: { tokens: [{ name: 'bench', token, roles: ['ingest'] }] } },
    store: { uri, database, writeConcern: tier === 'real' ? 'majority' : 1 },
    ingest: { telemetrySecret: secret, signaturePolicy: 'reject' },
    ...(kafka ? { kafka: { enabled: true, brokers: kafka.brokers, topics: [kafka.topic], groupId: kafka.groupId, fromBeginning: true, fetchMaxWaitMs: 100, clientId: 'metering-bench' } } : {}),
  };
  return parseConfig(JSON.stringify(cfg), 'bench-ingest.yaml', {});
}

async function mongodMemory(client: MongoClient, tier: MongoTier, standinPid?: number): Promise<{ rss?: number; cache?: number }> {
  if (tier === 'real') {
    const st = await client.db('admin').command({ serverStatus: 1 }).catch(() => undefined);
    const rss = st?.mem?.resident ? Number(st.mem.resident) * 2 ** 20 : undefined;
    const cache = st?.wiredTiger?.cache?.['maximum bytes configured'];
    return { rss, cache: cache !== undefined ? Number(cache) : undefined };
  }
  // The stand-in is a JVM: its peak resident set from /proc (Linux).
  if (standinPid === undefined) return {};
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${standinPid}/status`, 'utf8'));
    return m ? { rss: Number(m[1]) * 1024 } : {};
  } catch {
    return {};
  }
}

export async function runIngestBench(options: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const info = await ensureServices({ mongo: true, ...(options.kafka ?? true ? { kafka: true } : {}) }, { startedBy: 'bench' });
  // The stand-in holds every database of every test run in one JVM heap: keep the benchmark's share small.
  const n = options.samples ?? (info.mongoTier === 'real' ? 100_000 : 8_000);
  const clients = options.clients ?? 4;
  const withKafka = options.kafka ?? true;
  const say = (msg: string) => options.verbose && process.stderr.write(`bench ingest: ${msg}\n`);
  const loadBefore = os.loadavg().map((x) => round(x, 2));
  const uri = info.mongodbUri!;
  const tier = info.mongoTier!;
  if (info.started.length) say(`started ${info.started.join(', ')} (left running for the next run; \`metering services down\` stops it)`);
  say(`MongoDB ${tier} at ${uri}${withKafka ? `, Kafka ${info.kafkaBrokers!.join(',')}` : ''}`);

  const samples = await benchSamples(options.traces ?? defaultTraces(), n);
  const token = 'bench-ingest-token-0123456789';
  const secret = CEILOMETER_DEFAULT_SECRET;
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const rawDb = `bench_ingest_raw_${tag}`;
  const httpDb = `bench_ingest_http_${tag}`;
  const kafkaDb = `bench_ingest_kafka_${tag}`;
  const base = benchConfig(uri, rawDb, tier, token, secret);
  const batch = options.batch ?? base.ingest.batchMaxSamples;
  const avgBson = Math.round(samples.slice(0, 1000).reduce((a, s) => a + prepareSample(s).bsonSize, 0) / Math.min(1000, samples.length));
  say(`${n} samples from Bitbrains traces (avg ${avgBson} B BSON), batches of ${batch}`);

  const { client } = await connectStore(resolveIngestionConfig({ store: { uri } }).store);
  const apps: Application[] = [];
  try {
    // Raw reference, first run.
    const raw1 = await rawInsert(client.db(rawDb), base, samples, batch);
    say(`raw insertMany: ${round(n / raw1.seconds)} samples/s`);

    // HTTP: controller on loopback, concurrent clients with pre-encoded bodies.
    const httpApp = await startApplication({ config: benchConfig(uri, httpDb, tier, token, secret), log: pino({ level: 'warn' }), listen: true, kafka: false });
    apps.push(httpApp);
    const bodies: string[] = [];
    for (let i = 0; i < samples.length; i += batch) bodies.push(httpBody(samples.slice(i, i + batch), 'as_dict', secret));
    const url = `${httpApp.url}/v1/samples`;
    const latencies: number[] = [];
    let retries = 0;
    let stored = 0;
    const t0 = performance.now();
    await pool(bodies, clients, async (body) => {
      for (;;) {
        const t = performance.now();
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
        const answer = (await res.json()) as { stored?: number; message?: string };
        if (res.status === 429 || res.status === 503) {
          retries++;
          await sleep(retryAfterSeconds(res.headers.get('retry-after')) * 1000);
          continue;
        }
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${answer.message ?? JSON.stringify(answer)}`);
        latencies.push(performance.now() - t);
        stored += answer.stored ?? 0;
        return;
      }
    });
    const httpSeconds = (performance.now() - t0) / 1000;
    if (stored !== n) throw new Error(`HTTP path stored ${stored} of ${n} samples`);
    const httpBatchFailures = httpApp.ingestion.ingestor.metrics.batchFailures;
    apps.pop();
    await httpApp.services.db.dropDatabase().catch(() => undefined);
    await httpApp.close();
    say(`http: ${round(n / httpSeconds)} samples/s (${retries} retries)`);

    // Kafka: produce everything, then time the consumer from start to the last stored sample.
    let kafkaResult: IngestBenchResult['kafka'];
    if (withKafka) {
      const topic = `bench-ingest-${tag}`;
      const kafka = createKafka({ brokers: info.kafkaBrokers!, clientId: 'metering-bench' });
      await ensureTopics(kafka, [topic]);
      const producer = kafka.producer();
      await producer.connect();
      const values = kafkaValues(samples, 'counter', secret);
      const tp = performance.now();
      for (const chunk of produceChunks(values)) await producer.send({ topic, acks: -1, messages: chunk.map((value) => ({ value })) });
      const produceSeconds = (performance.now() - tp) / 1000;
      await producer.disconnect();
      say(`kafka: produced ${n} signed messages at ${round(n / produceSeconds)}/s; consuming`);
      const tk = performance.now();
      const kApp = await startApplication({ config: benchConfig(uri, kafkaDb, tier, token, secret, { brokers: info.kafkaBrokers!, topic, groupId: `bench-${tag}` }), log: pino({ level: 'warn' }), listen: false, kafka: true });
      apps.push(kApp);
      const m = kApp.ingestion.ingestor.metrics;
      let firstStored: number | undefined;
      const deadline = Date.now() + Math.max(120_000, n * 20);
      while (m.samplesStored + m.samplesRejected < n) {
        if (firstStored === undefined && m.samplesStored > 0) firstStored = performance.now();
        if (Date.now() > deadline) throw new Error(`Kafka path: only ${m.samplesStored} of ${n} samples stored before the deadline`);
        await sleep(10);
      }
      const end = performance.now();
      if (m.samplesRejected > 0) throw new Error(`Kafka path: ${m.samplesRejected} samples rejected`);
      firstStored ??= end;
      const seconds = (end - tk) / 1000;
      const steady = (end - firstStored) / 1000;
      kafkaResult = {
        samples: n,
        seconds: round(seconds, 3),
        samples_per_s: round(n / seconds),
        produce_samples_per_s: round(n / produceSeconds),
        steady_samples_per_s: steady > 0 ? round(n / steady) : 0,
        seconds_to_first_stored: round((firstStored - tk) / 1000, 3),
        batch_failures: m.batchFailures,
      };
      // Stop the consumer before its topic goes.
      apps.pop();
      await kApp.services.db.dropDatabase().catch(() => undefined);
      await kApp.close();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
      say(`kafka: ${kafkaResult.samples_per_s} samples/s consume-to-stored (${kafkaResult.steady_samples_per_s}/s after the first stored batch)`);
    }

    // Raw reference, second run (load on a shared machine drifts).
    const raw2 = await rawInsert(client.db(rawDb), base, samples, batch);
    const runs = [n / raw1.seconds, n / raw2.seconds];
    const rawRate = (runs[0]! + runs[1]!) / 2;
    const rawLat = [...raw1.latencies, ...raw2.latencies];
    say(`raw insertMany (again): ${round(runs[1]!)} samples/s`);

    const stages = await stageBreakdown(client.db(rawDb), base, samples.slice(0, Math.min(n, 5000)), batch);
    say(`stages (single stream, samples/s): ${Object.entries(stages).map(([k, v]) => `${k} ${v}`).join(', ')}`);

    const mem = await mongodMemory(client, tier, tier === 'standin' ? await standinPid() : undefined);
    const httpRate = n / httpSeconds;
    const result: IngestBenchResult = {
      benchmark: 'ingest',
      measured_at: new Date().toISOString(),
      command: `node bin/metering.mjs bench ingest --samples ${n} --clients ${clients} --batch ${batch}${withKafka ? '' : ' --no-kafka'}`,
      mongoTier: tier,
      samples_per_s: round(httpRate),
      mongod_cores: os.cpus().length,
      ...(mem.rss !== undefined ? { mongod_rss_bytes: mem.rss } : {}),
      ...(mem.cache !== undefined ? { wiredtiger_cache_bytes: mem.cache } : {}),
      machine: { cpus: os.cpus().length, loadavg_before: loadBefore, loadavg_after: os.loadavg().map((x) => round(x, 2)), node: process.version },
      config: { samples: n, batch, clients, writeConcern: base.store.writeConcern, batchMaxSamples: base.ingest.batchMaxSamples, maxConcurrentBatches: base.ingest.maxConcurrentBatches, avg_bson_bytes: avgBson },
      raw: { samples: n, seconds: round(n / rawRate, 3), samples_per_s: round(rawRate), p50_ms: round(percentile(rawLat, 50), 1), p99_ms: round(percentile(rawLat, 99), 1), runs: runs.map((r) => round(r)) },
      http: { samples: n, seconds: round(httpSeconds, 3), samples_per_s: round(httpRate), p50_ms: round(percentile(latencies, 50), 1), p99_ms: round(percentile(latencies, 99), 1), ratio_to_raw: round(httpRate / rawRate, 3), retries, batch_failures: httpBatchFailures },
      ...(kafkaResult ? { kafka: { ...kafkaResult, ratio_to_raw: round(kafkaResult.samples_per_s / rawRate, 3) } } : {}),
      stages,
      peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 1),
      targets: {
        raw_ratio: 0.9,
        samples_per_s: 50_000,
        defined_on: 'a real mongod (tier real); on the stand-in the figures only compare paths within one run',
        ...(tier === 'real' ? { met: httpRate / rawRate >= 0.9 && httpRate >= 50_000 } : {}),
      },
    };
    const out = options.out ?? path.join(REPO, 'out', 'bench', 'ingest.json');
    if (out) {
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    }
    return result;
  } finally {
    for (const a of apps.reverse()) {
      await a.services.db.dropDatabase().catch(() => undefined);
      await a.close().catch(() => undefined);
    }
    await client.db(rawDb).dropDatabase().catch(() => undefined);
    await client.close();
  }
}

async function standinPid(): Promise<number | undefined> {
  const mongo = (await servicesStatus()).find((s) => s.service === 'mongo');
  return mongo?.state === 'running' ? mongo.pid : undefined;
}

/** The results as a table. */
export function formatIngestTable(r: IngestBenchResult): string {
  const rows: string[][] = [['path', 'samples/s', 'ratio to raw', 'p50 ms', 'p99 ms', 'seconds']];
  const fmt = (x: number | undefined, d = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  rows.push(['raw insertMany', fmt(r.raw.samples_per_s), '1.00', fmt(r.raw.p50_ms, 1), fmt(r.raw.p99_ms, 1), fmt(r.raw.seconds, 2)]);
  rows.push([`http (${r.config.clients} clients)`, fmt(r.http.samples_per_s), fmt(r.http.ratio_to_raw, 2), fmt(r.http.p50_ms, 1), fmt(r.http.p99_ms, 1), fmt(r.http.seconds, 2)]);
  if (r.kafka) {
    rows.push(['kafka consume-to-stored', fmt(r.kafka.samples_per_s), fmt(r.kafka.ratio_to_raw, 2), '-', '-', fmt(r.kafka.seconds, 2)]);
    rows.push(['  after first stored batch', fmt(r.kafka.steady_samples_per_s), fmt(r.kafka.steady_samples_per_s / r.raw.samples_per_s, 2), '-', '-', '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const failures = r.http.batch_failures + (r.kafka?.batch_failures ?? 0);
  const notes = [
    ...(failures > 0 ? [`WARNING: ${failures} batch write(s) failed and were retried during the run (store restarted or unreachable): these figures are disturbed, run again`] : []),
    `stages alone, single stream (samples/s): ${Object.entries(r.stages).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`,
    `MongoDB tier: ${r.mongoTier}${r.mongoTier === 'standin' ? ' (mongo-java-server: the ≥ 90 %-of-raw and ≥ 50,000 samples/s targets are defined against a real mongod)' : ''}`,
    `${r.config.samples} samples (avg ${r.config.avg_bson_bytes} B BSON), batch ${r.config.batch}, writeConcern ${r.config.writeConcern}; raw runs ${r.raw.runs.join(' / ')} samples/s`,
    `peak RSS of the benchmark process ${r.peak_rss_mib} MiB; load average ${r.machine.loadavg_before.join(' ')} → ${r.machine.loadavg_after.join(' ')} on ${r.machine.cpus} cores`,
  ];
  return [...lines, '', ...notes].join('\n') + '\n';
}
