/**
 * Mediation benchmark (`benchMediation`; `npx tsx bench/mediation.ts [--samples N] [--json]`):
 * mediation + rating of N stored samples, in place (the aggregation pipeline `$merge`s into `usage`
 * on the server) against the baseline that reads the same samples into Node and computes there
 * (`runMediationInNode`). Reports time, throughput (samples/s), and the bytes that crossed to the
 * client in each case, and writes out/bench/mediation.json.
 *
 * The in-place pipeline needs MongoDB >= 5.0 ($setWindowFields, $dateTrunc…). On the CI stand-in
 * (mongo-java-server) it cannot run: the result says "needs real MongoDB" and only the in-Node
 * baseline is measured. With MONGODB_URI or MONGO_BIN_DIR (a real mongod) both are measured.
 * Target run on a real mongod: `--samples 10000000`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { decideMediationMode } from '../billing/jobs/capability';
import { mediationOptions, type MediationOptions } from '../billing/mediation/options';
import { ensureUsageIndexes, runMediation, runMediationInNode, type MediationRun } from '../billing/mediation/runner';
import { loadPlanFile } from '../billing/rating/plan';
import { rateStoredUsage } from '../billing/rating/store';
import { ensureServices, type MongoTier } from '../services/manager';
import { REPO } from '../services/paths';

export interface MediationBenchOptions {
  /** Samples stored and mediated (default 200,000: a couple of minutes on the stand-in; 10,000,000 is the real-mongod target). */
  samples?: number;
  /** VMs the samples are spread over (default: samples / 4 meters / 144 polls a day / 3 days, at least 1). */
  vms?: number;
  /** Poll interval of the generated samples, seconds (default 600, Ceilometer's usual). */
  intervalSeconds?: number;
  /** Price plan (default billing/rating/examples/plan.yaml). */
  plan?: string;
  /** Results file (default out/bench/mediation.json; '' = none). */
  out?: string;
  /** Progress lines on stderr. */
  verbose?: boolean;
}

export interface ModeResult {
  status: 'measured' | 'needs real MongoDB';
  reason?: string;
  mediationSeconds?: number;
  ratingSeconds?: number;
  totalSeconds?: number;
  samplesPerSecond?: number;
  /** BSON bytes of every reply the client received (in-node: all the samples it read). */
  bytesToClient?: number;
  /** BSON bytes the client sent (in-node: the usage documents it wrote back). */
  bytesFromClient?: number;
  usageDocs?: number;
  ratedTotal?: string;
}

export interface MediationBenchResult {
  benchmark: 'mediation';
  at: string;
  mongoTier: MongoTier;
  host: { cpus: number; node: string };
  samples: number;
  samplesReadByRange: number;
  vms: number;
  meters: string[];
  range: { from: string; to: string; granularity: string; timezone: string; carrySeconds: number };
  insertSeconds: number;
  inPlace: ModeResult;
  inNode: ModeResult;
  /** in-node time / in-place time, and bytes to the client in-node / in-place (when both ran). */
  ratio?: { time: number; bytesToClient: number };
  command: string;
}

const METERS = [
  { counter_name: 'cpu', counter_type: 'cumulative', counter_unit: 'ns' },
  { counter_name: 'memory', counter_type: 'gauge', counter_unit: 'MiB' },
  { counter_name: 'network.outgoing.bytes', counter_type: 'cumulative', counter_unit: 'B' },
  { counter_name: 'instance', counter_type: 'gauge', counter_unit: 'instance' },
] as const;

const DAY_MS = 86_400_000;

/** Store `samples` Ceilometer-like samples (4 meters per VM, one poll every interval) from `start`, in batches. */
async function storeSamples(db: Db, samples: number, vms: number, intervalSeconds: number, start: Date, log: (s: string) => void): Promise<{ polls: number }> {
  const polls = Math.ceil(samples / (vms * METERS.length));
  const coll = db.collection('meter');
  await coll.createIndexes([{ key: { timestamp: 1 } }, { key: { resource_id: 1, counter_name: 1, timestamp: 1 } }]);
  let batch: object[] = [];
  let stored = 0;
  const t0 = start.getTime();
  for (let p = 0; p < polls && stored < samples; p++) {
    const ts = new Date(t0 + p * intervalSeconds * 1000);
    for (let v = 0; v < vms && stored < samples; v++) {
      const project = `project-${v % 10}`;
      const volumes = [1e9 * intervalSeconds * 0.25 * p, 512 + (v % 8) * 256, 1_000_000 * p * (1 + (v % 5)), 1];
      for (let m = 0; m < METERS.length && stored < samples; m++) {
        batch.push({
          ...METERS[m], counter_volume: volumes[m], user_id: `user-${v % 3}`, project_id: project,
          resource_id: `vm-${v}`, timestamp: ts, message_id: `${v}-${m}-${p}`, source: 'openstack', resource_metadata: {},
        });
        stored++;
        if (batch.length === 5000) {
          await coll.insertMany(batch, { ordered: false });
          batch = [];
          if (stored % 100_000 === 0) log(`stored ${stored.toLocaleString('en')} samples`);
        }
      }
    }
  }
  if (batch.length) await coll.insertMany(batch, { ordered: false });
  return { polls };
}

async function rateRange(db: Db, plan: string, o: MediationOptions): Promise<{ seconds: number; total: string }> {
  const t0 = performance.now();
  const r = await rateStoredUsage(db, loadPlanFile(plan), { granularity: o.granularity, timezone: o.timezone, from: o.from, to: o.to, usage: o.into, into: `${o.into}_rated` });
  const total = r.projects.reduce((s, p) => s + Number(p.total), 0).toFixed(2);
  return { seconds: (performance.now() - t0) / 1000, total };
}

function modeResult(run: MediationRun, rating: { seconds: number; total: string }, samplesRead: number): ModeResult {
  const mediationSeconds = run.durationMs / 1000;
  const totalSeconds = mediationSeconds + rating.seconds;
  return {
    status: 'measured', mediationSeconds: round(mediationSeconds), ratingSeconds: round(rating.seconds), totalSeconds: round(totalSeconds),
    samplesPerSecond: Math.round(samplesRead / mediationSeconds), bytesToClient: run.bytesToClient, bytesFromClient: run.bytesFromClient,
    usageDocs: run.usageDocs, ratedTotal: rating.total,
  };
}
const round = (x: number) => Math.round(x * 1000) / 1000;

export async function benchMediation(opts: MediationBenchOptions = {}): Promise<MediationBenchResult> {
  const samples = opts.samples ?? 200_000;
  const intervalSeconds = opts.intervalSeconds ?? 600;
  const vms = opts.vms ?? Math.max(1, Math.round(samples / METERS.length / ((DAY_MS / 1000 / intervalSeconds) * 3)));
  const plan = opts.plan ?? path.join(REPO, 'billing/rating/examples/plan.yaml');
  const log = (s: string) => opts.verbose && process.stderr.write(`[bench mediation] ${s}\n`);
  const info = await ensureServices({ mongo: true }, { startedBy: 'bench' });
  const tier = info.mongoTier!;
  const client = await new MongoClient(info.mongodbUri!).connect();
  const db = client.db(`bench_mediation_${randomBytes(4).toString('hex')}`);
  try {
    const start = new Date('2026-01-01T00:00:00Z');
    log(`storing ${samples.toLocaleString('en')} samples of ${vms} VMs on the ${tier} MongoDB…`);
    const t0 = performance.now();
    const { polls } = await storeSamples(db, samples, vms, intervalSeconds, start, log);
    const insertSeconds = (performance.now() - t0) / 1000;
    // every whole day the samples cover (the last partial day is left out)
    const days = Math.max(1, Math.floor((polls * intervalSeconds * 1000) / DAY_MS));
    const base = { from: start, to: new Date(start.getTime() + days * DAY_MS), granularity: 'day' as const, timezone: 'UTC', carrySeconds: 3600, source: 'meter' };
    const samplesReadByRange = await db.collection('meter').countDocuments({ timestamp: { $gte: base.from, $lt: new Date(base.to.getTime() + 3_600_000) } });

    const decision = await decideMediationMode(db, 'auto');
    let inPlace: ModeResult;
    if (decision.mode === 'in-place') {
      const o = mediationOptions({ ...base, into: 'usage_inplace' });
      await ensureUsageIndexes(db, o.into);
      log('in place: aggregation pipeline with $merge…');
      const run = await runMediation(db, o);
      inPlace = modeResult(run, await rateRange(db, plan, o), samplesReadByRange);
    } else {
      inPlace = { status: 'needs real MongoDB', reason: decision.reason };
      log(`in place: not measured, ${decision.reason}`);
    }
    const o = mediationOptions({ ...base, into: 'usage_innode' });
    await ensureUsageIndexes(db, o.into);
    log('in Node: reading the samples into the client…');
    const run = await runMediationInNode(db, o);
    const inNode = modeResult(run, await rateRange(db, plan, o), samplesReadByRange);

    const result: MediationBenchResult = {
      benchmark: 'mediation', at: new Date().toISOString(), mongoTier: tier, host: { cpus: os.cpus().length, node: process.version },
      samples, samplesReadByRange, vms, meters: METERS.map((m) => m.counter_name),
      range: { from: base.from.toISOString(), to: base.to.toISOString(), granularity: base.granularity, timezone: base.timezone, carrySeconds: base.carrySeconds },
      insertSeconds: round(insertSeconds), inPlace, inNode,
      ...(inPlace.status === 'measured'
        ? { ratio: { time: round(inNode.totalSeconds! / inPlace.totalSeconds!), bytesToClient: round(inNode.bytesToClient! / inPlace.bytesToClient!) } }
        : {}),
      command: `npx tsx bench/mediation.ts --samples ${samples}`,
    };
    const out = opts.out ?? path.join(REPO, 'out/bench/mediation.json');
    if (out) {
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    }
    return result;
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
}

const fmtBytes = (b?: number) => (b === undefined ? '-' : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${b} B`);

export function formatMediationTable(r: MediationBenchResult): string {
  const row = (name: string, m: ModeResult) =>
    m.status !== 'measured'
      ? `  ${name.padEnd(9)} needs real MongoDB (${m.reason})`
      : `  ${name.padEnd(9)} mediation ${m.mediationSeconds!.toFixed(2)} s (${m.samplesPerSecond!.toLocaleString('en')} samples/s)  rating ${m.ratingSeconds!.toFixed(2)} s  to client ${fmtBytes(m.bytesToClient)}  from client ${fmtBytes(m.bytesFromClient)}  usage docs ${m.usageDocs}  rated ${m.ratedTotal} EUR`;
  return [
    `mediation + rating of ${r.samplesReadByRange.toLocaleString('en')} samples (${r.samples.toLocaleString('en')} stored, ${r.vms} VMs × ${r.meters.length} meters, ${r.range.from.slice(0, 10)} → ${r.range.to.slice(0, 10)} daily) on the ${r.mongoTier} MongoDB`,
    row('in place', r.inPlace),
    row('in Node', r.inNode),
    r.ratio ? `  in Node / in place: time × ${r.ratio.time}, bytes to client × ${r.ratio.bytesToClient}` : '  ratio: needs the in-place run (real MongoDB: MONGODB_URI or MONGO_BIN_DIR)',
    `  (storing the samples took ${r.insertSeconds.toFixed(1)} s; results in out/bench/mediation.json)`,
    '',
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--samples');
  const samples = at >= 0 ? Number(args[at + 1]) : undefined;
  if (samples !== undefined && !(Number.isInteger(samples) && samples > 0)) {
    process.stderr.write(`bench mediation: --samples: expected a positive integer, got ${JSON.stringify(args[at + 1])}\n`);
    process.exit(2);
  }
  benchMediation({ samples, verbose: !args.includes('--json') })
    .then((r) => process.stdout.write(args.includes('--json') ? JSON.stringify(r) + '\n' : formatMediationTable(r)))
    .then(() => process.exit(0))
    .catch((err: Error) => {
      process.stderr.write(`bench mediation: ${err.message}\n`);
      process.exit(1);
    });
}
