import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import type { MongoClient } from 'mongodb';
import { createKafka, ensureTopics } from '../../pipeline/kafka/client';
import { connectProducer } from '../../pipeline/kafka/producer';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { asStored } from '../../profiler/offline';
import { Profiler, type VmUtilisation } from '../../profiler/profiler';
import { isolation } from '../support/isolation';
import { freePort, groupStable as waitForGroup, sleep, spawnController, until as untilValue } from '../support/processes';
import { kafkaBrokers, mongoTier } from '../support/services';
import { connect } from '../pipeline/ingest/helpers';
import { interleavedTraffic, produceKeyed } from './helpers';

/**
 * Three controller PROCESSES (`metering serve`, the product's entry point, every module) in one
 * Kafka consumer group over a 3-partition ingest topic keyed by resource_id, with
 * `profiler.cluster.state: store`. Any controller answers /v1/profiles and /v1/queues the same; after
 * kill -9 of one (right after its state was flushed) and a graceful stop (SIGTERM) of another in the
 * middle of the traffic, the survivor answers what one profiler seeing every sample answers.
 */

const iso = isolation(import.meta.url);
const TOKEN = 'cluster-processes-read-token';
const PARTITIONS = 3;
const VMS = ['27', '41', '123', '130', '219'];
const ROWS = 40;
let client: MongoClient;
let kafka: Kafka;
let producer: Producer;
const children: ChildProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'metering-cluster-'));
const until = (what: string, check: () => Promise<boolean>, timeoutMs: number) => untilValue(what, check, timeoutMs, 200);

function serve(configFile: string, port: number): ChildProcess {
  const child = spawnController(configFile, { port });
  children.push(child);
  return child;
}

const groupStable = (group: string, n: number) => waitForGroup(kafka, group, n);

const getJson = async (port: number, url: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.json() as Promise<{ vms: VmUtilisation[] }>;
};

function expectSameProfiles(actual: VmUtilisation[], expected: VmUtilisation[]): void {
  const a = Object.fromEntries(actual.map((u) => [u.vm, u]));
  expect(Object.keys(a).sort()).toEqual(expected.map((u) => u.vm).sort());
  for (const e of expected) {
    const x = a[e.vm]!;
    expect([x.vcpus, x.memory_mb, x.project]).toEqual([e.vcpus, e.memory_mb, e.project]);
    for (const [r, u] of Object.entries(e.resources)) {
      const v = x.resources[r as keyof typeof x.resources]!;
      expect([e.vm, r, v.window, v.samples]).toEqual([e.vm, r, u.window, u.samples]);
      expect(v.avg).toBeCloseTo(u.avg, 9);
    }
  }
}

beforeAll(async () => {
  client = await connect();
  kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
  producer = await connectProducer(kafka);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await producer?.disconnect();
  await client.db(iso.dbName()).dropDatabase().catch(() => undefined);
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('three controller processes with partitioned profiler state', () => {
  it('any controller answers the same; kill -9 after a flush and a graceful stop mid-traffic lose no profiler state', async () => {
    const topic = iso.topic('ingest');
    const group = iso.groupId('cluster');
    await ensureTopics(kafka, [topic], PARTITIONS);
    const configFile = path.join(dir, 'metering.yaml');
    writeFileSync(
      configFile,
      [
        'controller:',
        `  auth: {tokens: [{name: reader, token: ${TOKEN}, roles: [read]}]}`,
        'store:',
        `  database: ${iso.dbName()}`,
        `  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}`,
        // one write at a time: concurrent writes can hand one VM's batches to the profiler out of order
        'ingest: {maxConcurrentBatches: 1, shutdownGraceMs: 2000}',
        `kafka: {enabled: true, topics: [${topic}], groupId: ${group}, ingestTopic: ${topic}.ingest, fetchMaxWaitMs: 100, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, fromBeginning: true}`,
        `redis: {prefix: ${iso.queuePrefix()}}`,
        'mediation: {lateDataCheckSeconds: 0}',
        `profiler: {idle_ttl_s: 630720000, snapshot_interval_s: 0, snapshot_path: ${path.join(dir, 'unused.json')}, cluster: {state: store, flush_interval_ms: 300, handover_timeout_ms: 3000, view_cache_ms: 0}}`,
        'estimator: {size_tracker_state: store}',
        '',
      ].join('\n'),
    );
    const samples = interleavedTraffic(VMS, ROWS);
    const reference = new Profiler();
    reference.onStored(asStored(samples, new Date()));
    const meter = client.db(iso.dbName()).collection(COLLECTIONS.meter);
    const stored = () => meter.countDocuments();

    const ports = [await freePort(), await freePort(), await freePort()];
    const procs = ports.map((p) => serve(configFile, p));
    for (const p of ports) await until(`controller :${p} to answer`, async () => (await fetch(`http://127.0.0.1:${p}/healthz`).catch(() => undefined))?.ok === true, 120_000);
    await groupStable(group, 3);
    const quarter = Math.floor(samples.length / 4);

    // 1. all three consume; any of them answers the same
    await produceKeyed(producer, topic, samples.slice(0, 2 * quarter), '');
    await until('half the traffic stored', async () => (await stored()) === 2 * quarter, 60_000);
    await sleep(1500); // > flush_interval_ms: every owner has written its state
    const answers = await Promise.all(ports.map(async (p) => ({ profiles: (await getJson(p, '/v1/profiles')).vms, queue: await getJson(p, '/v1/queues?resource=memory&k=50') })));
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    const half = new Profiler();
    half.onStored(asStored(samples.slice(0, 2 * quarter), new Date()));
    expectSameProfiles(answers[0]!.profiles, half.list());

    // 2. kill -9 of the first controller (its state was written by the last flush, nothing arrived since)
    const killedAt = Date.now();
    procs[0]!.kill('SIGKILL');
    await new Promise((r) => procs[0]!.once('exit', r));
    // Kafka notices the dead member after its session timeout, then the others take its partitions
    await groupStable(group, 2);
    const rebalanceS = (Date.now() - killedAt) / 1000;

    // 3. graceful stop of the second controller while traffic flows
    await produceKeyed(producer, topic, samples.slice(2 * quarter, 3 * quarter), '');
    await until('some of the third quarter stored', async () => (await stored()) > 2 * quarter + 50, 60_000);
    procs[1]!.kill('SIGTERM');
    await new Promise((r) => procs[1]!.once('exit', r));
    await produceKeyed(producer, topic, samples.slice(3 * quarter), '');
    await until('everything stored', async () => (await stored()) === samples.length, 90_000);
    await sleep(1500);
    const survivor = (await getJson(ports[2]!, '/v1/profiles')).vms;
    console.log(`[figure] three controller processes: ${samples.length} samples, ${PARTITIONS} partitions; kill -9 → group rebalanced in ${rebalanceS.toFixed(1)} s (Kafka session timeout); after kill -9 + SIGTERM the survivor's /v1/profiles equals one profiler's over every sample (${survivor.length} VMs)`);
    expectSameProfiles(survivor, reference.list());
    const queue = await getJson(ports[2]!, '/v1/queues?resource=cpu&k=50');
    expect(queue.vms.map((v) => v.vm).sort()).toEqual(reference.list().map((u) => u.vm).sort());
    procs[2]!.kill('SIGTERM');
    await new Promise((r) => procs[2]!.once('exit', r));
  }, 360_000);
});
