import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Document, MongoClient } from 'mongodb';
import { createKafka, ensureTopics } from '../../pipeline/kafka/client';
import { httpBody } from '../../pipeline/replay/encode';
import type { Sample } from '../../pipeline/sample';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { TraceSampler } from '../../profiler/trace-samples';
import { connect } from '../pipeline/ingest/helpers';
import { rowsOf } from '../profiler/helpers';
import { isolation } from '../support/isolation';
import { REPO } from '../support/paths';
import { exited, freePort, groupStable, healthy, sleep, spawnController, until } from '../support/processes';
import { kafkaBrokers, mongoTier } from '../support/services';

/**
 * Issue 20's central claim, end to end: the same traffic through ONE controller and through THREE
 * controllers (`metering serve` processes behind a round-robin "load balancer", cluster.enabled, the
 * durable ingest log, profiler and size-tracker state in the store, a 4-partition ingest topic) gives
 * identical stored data (meter and resource documents), profiles, queues and invoices, although one of
 * the three (the billing-cycle leader) is killed with SIGKILL in the middle of the traffic.
 *
 * Traffic: real Bitbrains traces (6 VMs, 3 projects, 40 polls each) as signed counter messages, one
 * HTTP body per poll round; two bodies are sent twice (to different controllers: duplicates), and the
 * polls 5–7 of one VM are held back and sent at the end (late, out of order). Bodies are posted one
 * after the other (each acknowledged before the next), in the same order to both setups, so each
 * resource's stream reaches its partition in the same order: what a load balancer in front of
 * Ceilometer's http:// publisher (one batch at a time per agent) gives.
 *
 * Billing mid-cycle: once the first half is stored, both setups mediate (hourly), rate (daily lines) and
 * draft one invoice per project and day, with the jobs enqueued on different controllers. Everything
 * sent after that is late data for closed periods, which the late-data check (in the three, the
 * `late-data` lease holder's, possibly the new leader after the kill) re-mediates, re-rates and
 * redrafts. The settled invoices must be equal in both and equal to billing everything from scratch.
 *
 * The kill happens after a quiet moment longer than one profiler flush interval: the documented crash bound of
 * the partitioned profiler state (docs/profiler.md "Bounds": the values the crashed owner observed since
 * its last flush) is then zero, so the profiles must still equal the single controller's exactly;
 * stored data and invoices do not depend on that moment by construction (the log keeps every accepted
 * body, the store refuses a message id twice), though this test kills at this one moment only.
 */

const iso = isolation(import.meta.url);
const ADMIN = 'equivalence-admin-token';
const INGEST = 'equivalence-ingest-token';
const SECRET = 'equivalence-telemetry-secret';
const INGEST_PARTITIONS = 4;
const VMS = ['27', '41', '134', '130', '219', '105'];
const PROJECTS = ['a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2', 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3'];
const ROWS = 40;
/** The VM whose polls LATE are sent after everything else. */
const LATE_VM = '41';
const LATE = [5, 6, 7];
const PRINT = process.env.CLUSTER_PRINT === '1';

const dir = mkdtempSync(path.join(tmpdir(), 'metering-equivalence-'));
const children: ChildProcess[] = [];
let client: MongoClient;
let kafka: Kafka;

interface Setup {
  name: string;
  db: string;
  ports: number[];
  procs: ChildProcess[];
  /** Index of the next controller the "load balancer" sends to. */
  next: number;
  /** Controllers taken out of the balancer (killed). */
  down: Set<number>;
}

/** One setup's configuration: its own database, topics, consumer group and Redis prefix. */
function configFile(name: string, cluster: { id: string; port: number } | undefined): string {
  const topic = iso.topic(`${name}_ceilometer`);
  const file = path.join(dir, `${cluster?.id ?? name}.yaml`);
  writeFileSync(
    file,
    [
      'controller:',
      `  auth: {tokens: [{name: ops, token: ${ADMIN}, roles: [admin]}, {name: ceilometer, token: ${INGEST}, roles: [ingest]}]}`,
      'store:',
      `  database: ${iso.dbName(name)}`,
      `  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}`,
      // Ceilometer's rule: last_sample_timestamp follows every newer sample. With the default (600 s) a
      // write that would only move it by less is saved, so it lags by up to 600 s depending on how the
      // samples were batched, in one controller as in three (docs/ingestion.md "resource cache"): not comparable exactly
      '  resourceGranularitySeconds: 0',
      // signed counter messages; one write at a time keeps each partition's batches in order for the profiler
      `ingest: {acceptance: log, telemetrySecret: ${SECRET}, signaturePolicy: reject, maxConcurrentBatches: 1, shutdownGraceMs: 2000}`,
      `kafka: {enabled: true, topics: [${topic}], groupId: ${iso.groupId(name)}, ingestTopic: ${topic}.ingest, fetchMaxWaitMs: 100, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, fromBeginning: true}`,
      `redis: {prefix: ${iso.queuePrefix(name)}}`,
      'mediation: {lateDataCheckSeconds: 1, granularity: hour}',
      `rating: {plan: ${path.join(REPO, 'billing/rating/examples/plan.yaml')}, billingPeriod: day, reportDir: ${path.join(dir, `${name}-reports`)}}`,
      'console: {enabled: false}',
      ...(cluster
        ? [
            `profiler: {idle_ttl_s: 630720000, snapshot_interval_s: 0, snapshot_path: ${path.join(dir, `${cluster.id}.json`)}, cluster: {state: store, flush_interval_ms: 300, handover_timeout_ms: 2000, view_cache_ms: 0}}`,
            'estimator: {size_tracker_state: store, size_tracker_flush_ms: 300}',
            `cluster: {enabled: true, id: ${cluster.id}, advertiseUrl: "http://127.0.0.1:${cluster.port}", leaseTtlMs: 1500, renewIntervalMs: 300, guardMs: 200, heartbeatIntervalMs: 300, memberTtlMs: 1500}`,
          ]
        : [`profiler: {idle_ttl_s: 630720000, snapshot_interval_s: 0, snapshot_path: ${path.join(dir, `${name}.json`)}}`]),
      '',
    ].join('\n'),
  );
  return file;
}

async function startSetup(name: string, n: number): Promise<Setup> {
  const topic = iso.topic(`${name}_ceilometer`);
  await ensureTopics(kafka, [topic], 1);
  await ensureTopics(kafka, [`${topic}.ingest`], INGEST_PARTITIONS);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const procs = ports.map((port, i) => {
    const child = spawnController(configFile(name, n > 1 ? { id: `${name}-c${i}`, port } : undefined), { port, keepStderr: true });
    children.push(child);
    return child;
  });
  return { name, db: iso.dbName(name), ports, procs, next: 0, down: new Set() };
}

/** The samples of every VM, per poll round: rounds[i] holds poll i of each VM. */
function traffic(): { rounds: Sample[][]; late: Sample[] } {
  const per = VMS.map((vm, i) => {
    const sampler = new TraceSampler(vm, { projectId: PROJECTS[i % PROJECTS.length], traceSet: 'equivalence' });
    return rowsOf(vm).slice(0, ROWS).map((row) => sampler.samples(row));
  });
  const rounds: Sample[][] = [];
  const late: Sample[] = [];
  for (let r = 0; r < ROWS; r++) {
    const round: Sample[] = [];
    per.forEach((polls, i) => {
      if (VMS[i] === LATE_VM && LATE.includes(r)) late.push(...(polls[r] ?? []));
      else round.push(...(polls[r] ?? []));
    });
    rounds.push(round);
  }
  return { rounds, late };
}

/** POST one signed body to the setup's next controller (round robin over those up). */
async function post(s: Setup, samples: readonly Sample[]): Promise<void> {
  let i = s.next % s.ports.length;
  while (s.down.has(i)) i = (i + 1) % s.ports.length;
  s.next = i + 1;
  const res = await fetch(`http://127.0.0.1:${s.ports[i]}/v1/samples`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` },
    body: httpBody(samples, 'counter', SECRET),
  });
  const text = await res.text();
  expect([s.name, i, res.status, text]).toEqual([s.name, i, 200, expect.stringContaining(`"accepted":${samples.length}`)]);
}

const api = async (s: Setup, i: number, url: string, init: RequestInit = {}) => {
  const res = await fetch(`http://127.0.0.1:${s.ports[i]}${url}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers } });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${s.name} #${i} ${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
};
const alive = (s: Setup) => s.ports.map((_, i) => i).filter((i) => !s.down.has(i));
const meters = (s: Setup) => client.db(s.db).collection(COLLECTIONS.meter);

/**
 * The stored `meter` documents, by message id, without the fields the writer sets at insert time and
 * that no two runs share: `_id` (an ObjectId made by the writing process) and `recorded_at` (the
 * writing process's clock when stored). Everything Ceilometer's driver stores is compared.
 */
async function meterDocs(s: Setup): Promise<Map<string, Document>> {
  const out = new Map<string, Document>();
  for (const { _id, recorded_at, ...d } of await meters(s).find({}).toArray()) {
    expect(recorded_at).toBeInstanceOf(Date);
    expect(out.has(d.message_id as string)).toBe(false); // stored once
    out.set(d.message_id as string, d);
  }
  return out;
}

/** The `resource` documents by id; the `meter` list is a set ($addToSet, in arrival order), compared sorted. */
async function resourceDocs(s: Setup): Promise<Document[]> {
  const docs = await client.db(s.db).collection(COLLECTIONS.resource).find({}).sort({ _id: 1 }).toArray();
  return docs.map((d) => ({ ...d, meter: [...((d.meter as Document[]) ?? [])].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) }));
}

/** Equal, numbers to 1e-9 relative (window averages are sums of the same values in another grouping). */
function expectClose(actual: unknown, expected: unknown, where: string): void {
  if (expected && typeof expected === 'object' && 'asymmetricMatch' in expected) return expect(actual).toEqual(expected);
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Math.abs(actual - expected) > 1e-9 * Math.max(1, Math.abs(expected))) expect([where, actual]).toEqual([where, expected]);
    return;
  }
  if (expected && typeof expected === 'object' && actual && typeof actual === 'object') {
    expect([where, Array.isArray(actual) ? actual.length : Object.keys(actual).sort()]).toEqual([where, Array.isArray(expected) ? expected.length : Object.keys(expected).sort()]);
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[k], v, `${where}.${k}`);
    return;
  }
  expect([where, actual]).toEqual([where, expected]);
}

/** Wait until no job of the setup is waiting or running; a failed job fails the test. */
async function jobsIdle(s: Setup, timeoutMs = 60_000): Promise<void> {
  const i = alive(s)[0]!;
  await until(
    `${s.name}: jobs done`,
    async () => {
      const list = (await api(s, i, '/v1/jobs?limit=1000')).jobs as Array<{ id: string; state: string; failedReason: string | null }>;
      const failed = list.filter((j) => j.state === 'failed');
      if (failed.length) throw new Error(`${s.name}: jobs failed: ${failed.map((j) => `${j.id}: ${j.failedReason}`).join('; ')}`);
      return list.length > 0 && list.every((j) => j.state === 'completed');
    },
    timeoutMs,
    200,
  ).catch(async (err: Error) => {
    const list = await api(s, i, '/v1/jobs?limit=1000').catch(() => ({}));
    throw new Error(`${err.message}: ${JSON.stringify(list).slice(0, 2000)}`);
  });
}

/**
 * Mediate and rate the days `days` (hourly usage, daily lines, `rating.billingPeriod: day`), then draft
 * one invoice per project and billing period (day), as the billing cycle does; the invoices, without
 * their identities.
 */
async function bill(s: Setup, days: readonly string[]): Promise<Document[]> {
  const ids = alive(s);
  const next = (d: string) => new Date(Date.parse(d) + 86_400_000).toISOString().slice(0, 10);
  await api(s, ids[0]!, '/v1/jobs/mediation', { method: 'POST', body: JSON.stringify({ from: days[0], to: next(days[days.length - 1]!) }) });
  await jobsIdle(s);
  // the invoice jobs enqueued with one controller after the other, as a load balancer spreads the calls
  let k = 0;
  for (const day of days) for (const project of PROJECTS) await api(s, ids[k++ % ids.length]!, '/v1/jobs/invoice', { method: 'POST', body: JSON.stringify({ from: day, to: next(day), project_id: project }) });
  await jobsIdle(s);
  return invoiceList(s);
}

async function invoiceList(s: Setup): Promise<Document[]> {
  const list = (await api(s, alive(s)[0]!, '/v1/invoices?limit=1000')).invoices as Document[];
  const key = (inv: Document) => `${inv.period_start}|${inv.account?.project_id}`;
  return list.map(normaliseInvoice).sort((a, b) => key(a).localeCompare(key(b)));
}

/**
 * Late data settled: the late-data check (the `late-data` lease holder's, every second) has drained
 * every mark of a mediated period into re-mediation jobs, and those (re-rating, redrafting) are done.
 */
async function settled(s: Setup): Promise<void> {
  const marks = client.db(s.db).collection('late_marks');
  await until(`${s.name}: late data settled`, async () => {
    await jobsIdle(s);
    if ((await marks.countDocuments()) > 0) return false;
    await sleep(1500); // > lateDataCheckSeconds: a check that was under way has enqueued its jobs
    await jobsIdle(s);
    return (await marks.countDocuments()) === 0;
  }, 60_000, 200);
}

/**
 * An invoice without what names or dates the drafting itself: `number` (a sequence taken when the draft
 * is written: with three controllers' workers drafting the projects' invoices at once, the order, and so
 * which project gets which number, is theirs) and the drafting clock. Line items keep their ids (a
 * function of project, period and meter) and every amount.
 */
function normaliseInvoice(inv: Document): Document {
  const { number, _id, created_at, updated_at, drafted_at, ...rest } = inv;
  expect(number).toEqual(expect.any(String));
  expect((rest.lines as unknown[]).length).toBeGreaterThan(0);
  return rest;
}

interface ControllerRow { id: string; alive: boolean; partitions: Array<{ topic: string; partition: number }> | null; leads: string[] }
/** Every partition of the setup's topics owned by exactly one live controller, by the heartbeats (any controller's answer). */
async function partitionsCovered(s: Setup, live: number): Promise<ControllerRow[] | false> {
  const v = await api(s, alive(s)[0]!, '/v1/cluster/controllers');
  const rows = (v.controllers as ControllerRow[]).filter((c) => c.alive);
  if (rows.length !== live) return false;
  const owned = rows.flatMap((c) => (c.partitions ?? []).map((p) => `${p.topic}:${p.partition}`));
  const topic = iso.topic(`${s.name}_ceilometer`);
  const all = [`${topic}:0`, ...Array.from({ length: INGEST_PARTITIONS }, (_, p) => `${topic}.ingest:${p}`)];
  return owned.length === all.length && [...owned].sort().join() === [...all].sort().join() ? rows : false;
}

beforeAll(async () => {
  client = await connect();
  kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  for (const name of ['one', 'three']) await client?.db(iso.dbName(name)).dropDatabase().catch(() => undefined);
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('one controller and three give the same results', () => {
  it('same stored meters and resources, profiles, queues and invoices; kill -9 of the billing-cycle leader mid-traffic loses and doubles nothing', async () => {
    const t0 = Date.now();
    const { rounds, late } = traffic();
    const all = [...rounds.flat(), ...late];
    const distinct = new Set(all.map((x) => x.message_id)).size;
    expect(new Set(all.map((x) => x.project_id)).size).toBe(PROJECTS.length);

    const [one, three] = await Promise.all([startSetup('one', 1), startSetup('three', 3)]);
    for (const s of [one, three]) for (const p of s.ports) await healthy(p);
    await groupStable(kafka, iso.groupId('one'), 1);
    await groupStable(kafka, iso.groupId('three'), 3);
    const started = Date.now();

    // every partition is owned by exactly one of the three, as their heartbeats say
    const before = await until('three controllers owning every partition once', () => partitionsCovered(three, 3), 10_000, 200);
    expect(before.every((c) => (c.partitions ?? []).length > 0)).toBe(true);

    const send = async (samples: readonly Sample[]) => {
      await post(one, samples);
      await post(three, samples);
    };
    const half = ROWS / 2;
    for (let r = 0; r < half; r++) {
      await send(rounds[r]!);
      if (r === 3 || r === 10) await send(rounds[r]!); // duplicates: the same body again, to the next controller
    }

    // the first half stored in both (the duplicates once)
    const storedSoFar = new Set(rounds.slice(0, half).flat().map((x) => x.message_id)).size;
    for (const s of [one, three]) await until(`${s.name}: first half stored`, async () => (await meters(s).countDocuments()) === storedSoFar, 30_000, 100);

    // the first billing run, on the first half: every hour of the traffic's days mediated and rated,
    // one draft invoice per project; everything sent from now on is late data for those closed periods
    const times = all.map((x) => x.timestamp.getTime());
    const DAY = 86_400_000;
    const days: string[] = [];
    for (let d = Math.floor(Math.min(...times) / DAY) * DAY; d <= Math.max(...times); d += DAY) days.push(new Date(d).toISOString().slice(0, 10));
    const [first1, first3] = await Promise.all([bill(one, days), bill(three, days)]);
    expect(first1).toHaveLength(PROJECTS.length * days.length);
    expect(first3).toEqual(first1);

    await sleep(1000); // a quiet moment longer than the profiler's flush interval
    const leases = client.db(three.db).collection<{ _id: string; holder: string | null }>('cluster_leases');
    const holders = async () => Object.fromEntries((await leases.find({}).toArray()).map((l) => [l._id, l.holder]));
    const leaderBefore = await holders();
    const leader = leaderBefore['billing-cycle'];
    const victim = three.procs.findIndex((_, i) => `three-c${i}` === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    const killedAt = Date.now();
    three.procs[victim]!.kill('SIGKILL');
    three.down.add(victim);
    await exited(three.procs[victim]!);

    // the traffic goes on through the two others while the group notices and rebalances
    for (let r = half; r < ROWS; r++) {
      await send(rounds[r]!);
      if (r === 25) await send(rounds[3]!); // a duplicate of a body stored before the kill
    }
    await send(late);
    const sentAt = Date.now();

    await groupStable(kafka, iso.groupId('three'), 2);
    const rebalanceMs = Date.now() - killedAt;
    const after = await until('two controllers owning every partition once', () => partitionsCovered(three, 2), 10_000, 200);
    expect(after.map((c) => c.id)).not.toContain(`three-c${victim}`);
    // a live controller leads every role, those the killed one led (the late-data check, when it led it) included
    await until('a live leader for every role', async () => {
      const now = await holders();
      return Object.keys(leaderBefore).every((role) => now[role] && now[role] !== leader);
    }, 10_000);

    for (const s of [one, three]) await until(`${s.name}: every sample stored`, async () => (await meters(s).countDocuments()) === distinct, 60_000, 200);
    const storedMs = Date.now() - sentAt;
    await sleep(1000); // > flush_interval_ms + view_cache_ms: the owners' state is in the store

    // stored data: the same documents, each message id once
    const [m1, m3] = await Promise.all([meterDocs(one), meterDocs(three)]);
    expect(m1.size).toBe(distinct);
    expect(m3.size).toBe(distinct);
    for (const [id, d] of m1) expect(m3.get(id)).toEqual(d);
    expect(await resourceDocs(three)).toEqual(await resourceDocs(one));
    expect(await client.db(three.db).collection(COLLECTIONS.deadLetter).countDocuments()).toBe(0);

    // profiles and queues: every live controller answers what the single one answers
    // `last_seen` is when the storing controller stored the VM's newest sample (its recorded_at, the
    // arrival clock of the idle TTL): like `recorded_at` it is the writer's clock, not the traffic's
    const arrivalClock = <T,>(v: T): T =>
      (Array.isArray(v) ? v.map(arrivalClock) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => (k === 'last_seen' ? [k, expect.any(String)] : [k, arrivalClock(x)]))) : v) as T;
    const answers = async (s: Setup, i: number) => {
      const a = { profiles: await api(s, i, '/v1/profiles'), cpu: await api(s, i, '/v1/queues?resource=cpu&k=50'), memory: await api(s, i, '/v1/queues?resource=memory&k=50') };
      for (const vm of a.profiles.vms as Array<{ last_seen: string }>) expect(Date.parse(vm.last_seen)).toBeGreaterThanOrEqual(started - 1000);
      return arrivalClock(a);
    };
    const single = await answers(one, 0);
    expect((single.profiles.vms as unknown[]).length).toBe(VMS.length);
    for (const i of alive(three)) {
      const a = await answers(three, i);
      expectClose(a, single, `controller three-c${i}`);
    }

    // invoices: the late data (the second half, the late polls) re-mediated and re-rated by the
    // late-data check, the drafts redrafted: the same in both, line by line and to the cent
    await Promise.all([settled(one), settled(three)]);
    const [late1, late3] = await Promise.all([invoiceList(one), invoiceList(three)]);
    expect(late3).toEqual(late1);
    // the redrafts bill the late data: the totals grew (the second half's days at least)
    expect(late1.map((inv) => inv.period_start + '|' + inv.account?.project_id)).toEqual(first1.map((inv) => inv.period_start + '|' + inv.account?.project_id));
    const sum = (list: Document[]) => list.reduce((t, inv) => t + Math.round(Number(inv.total) * 100), 0);
    expect(sum(late1)).toBeGreaterThan(sum(first1));
    // and they are what billing everything from scratch gives: nothing of the late data lost or billed twice
    const [full1, full3] = await Promise.all([bill(one, days), bill(three, days)]);
    expect(full1).toEqual(late1);
    expect(full3).toEqual(late1);
    const figure = `[figure] equivalence: ${all.length + rounds[3]!.length * 2 + rounds[10]!.length} samples posted (${distinct} distinct, ${VMS.length} VMs, ${PROJECTS.length} projects) to 1 and to 3 controllers; kill -9 of the billing-cycle leader → group of 2 stable after ${(rebalanceMs / 1000).toFixed(1)} s; all stored ${(storedMs / 1000).toFixed(1)} s after the last post; ${full1.length} invoices equal; controllers up to end ${((Date.now() - started) / 1000).toFixed(1)} s, test ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    if (PRINT) console.log(figure);
  }, 180_000);
});
