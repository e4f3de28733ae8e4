import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../support/paths';
import { startApplication, type Application } from '../../../controller/app';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { HttpSink } from '../../../pipeline/replay/http-sink';
import { replayTraces } from '../../../pipeline/replay/replay';
import { parseTarget } from '../../../pipeline/replay/target';
import { isolation } from '../../support/isolation';
import { INGEST_TOKEN, TRACE_FILES, appConfig, expectedSamples, log } from './helpers';

const iso = isolation(import.meta.url);
const SECRET = 'replay-test-secret';
const ROWS = 150;
const apps: Application[] = [];

async function app(name: string, ingest: Record<string, unknown> = {}): Promise<Application> {
  const a = await startApplication({ config: appConfig(iso.dbName(name), { telemetrySecret: SECRET, signaturePolicy: 'reject', ...ingest }), log, listen: true });
  apps.push(a);
  return a;
}

function sinkFor(a: Application, over: Partial<ConstructorParameters<typeof HttpSink>[0]> = {}): HttpSink {
  // Credentials as URL userinfo, as Ceilometer's http:// publisher sends them (HTTP Basic, token as password).
  const target = parseTarget(`${a.url!.replace('://', `://ceilometer:${INGEST_TOKEN}@`)}/v1/samples`);
  if (target.kind !== 'http') throw new Error('expected an http target');
  return new HttpSink({ url: target.url, authorization: target.authorization, form: 'as_dict', secret: SECRET, ...over });
}

afterAll(async () => {
  for (const a of apps) {
    await a.services.db.dropDatabase().catch(() => undefined);
    await a.close().catch(() => undefined);
  }
});

describe('replay-traces over HTTP', () => {
  let a: Application;
  const expected = expectedSamples(TRACE_FILES, ROWS);
  beforeAll(async () => {
    a = await app('http');
  });

  it('stores exactly the samples the trace sampler makes of the slice, one resource per VM device', async () => {
    const sink = sinkFor(a);
    const s = await replayTraces({ files: TRACE_FILES, slice: { limitRows: ROWS }, sink, batch: 400 });
    expect(s.rows).toBe(2 * ROWS);
    expect(s.produced).toBe(expected.length);
    expect(s).toMatchObject({ sent: expected.length, accepted: expected.length, stored: expected.length, duplicates: 0, rejected: 0, retries: 0 });
    const meter = a.services.db.collection(COLLECTIONS.meter);
    expect(await meter.countDocuments()).toBe(expected.length);
    expect((await meter.distinct('message_id')).sort()).toEqual(expected.map((x) => x.message_id).sort());
    // Ceilometer meter names and units, per VM: instance, disk and vNIC resources.
    const byName = new Map((await meter.aggregate<{ _id: string; unit: string[] }>([{ $group: { _id: '$counter_name', unit: { $addToSet: '$counter_unit' } } }]).toArray()).map((g) => [g._id, g.unit]));
    expect(byName.get('cpu')).toEqual(['ns']);
    expect(byName.get('memory.usage')).toEqual(['MiB']);
    expect(byName.get('disk.device.read.bytes')).toEqual(['B']);
    expect(byName.get('network.outgoing.bytes')).toEqual(['B']);
    expect(await a.services.db.collection(COLLECTIONS.resource).countDocuments()).toBe(6);
    // Stored values are the sampler's (a cumulative counter at the last row of VM 27, for instance).
    const last = expected.filter((x) => x.counter_name === 'cpu').at(-1)!;
    const doc = await meter.findOne({ message_id: last.message_id });
    expect(doc).toMatchObject({ counter_volume: last.counter_volume, resource_id: last.resource_id, timestamp: last.timestamp });
  });

  it('replaying the same slice again stores nothing twice (deterministic message ids)', async () => {
    const s = await replayTraces({ files: TRACE_FILES, slice: { limitRows: ROWS }, sink: sinkFor(a), batch: 500 });
    expect(s).toMatchObject({ sent: expected.length, accepted: expected.length, stored: 0, duplicates: expected.length, rejected: 0 });
    expect(await a.services.db.collection(COLLECTIONS.meter).countDocuments()).toBe(expected.length);
  });

  it('signed counter_* items verify under signaturePolicy reject with the same secret; a wrong secret gets every one dead-lettered', async () => {
    // A slice further on (rows 150–199), so these are new samples.
    const slice = { limitRows: 50, fromS: expected.at(-1)!.timestamp.getTime() / 1000 + 1 };
    const good = await replayTraces({ files: TRACE_FILES, slice, sink: sinkFor(a, { form: 'counter' }), batch: 300 });
    expect(good.produced).toBeGreaterThan(0);
    expect(good).toMatchObject({ accepted: good.produced, stored: good.produced, rejected: 0 });

    const deadBefore = await a.services.db.collection(COLLECTIONS.deadLetter).countDocuments();
    const bad = sinkFor(a, { form: 'counter', secret: 'not-the-secret' });
    const forged = await replayTraces({ files: TRACE_FILES, slice: { limitRows: 20 }, sink: bad, batch: 360 });
    expect(forged).toMatchObject({ sent: forged.produced, accepted: 0, stored: 0, rejected: forged.produced });
    expect(bad.rejectReasons[0]).toMatch(/message_signature: does not match/);
    expect(await a.services.db.collection(COLLECTIONS.deadLetter).countDocuments()).toBe(deadBefore + forged.produced);
    expect(await a.services.db.collection(COLLECTIONS.meter).countDocuments()).toBe(expected.length + good.produced);
  });

  it('the CLI replays a slice with --token and prints the JSON summary; bad arguments exit 2 with one line', async () => {
    // Asynchronous child: the controller answering it runs in this process.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [path.join(REPO, 'bin/metering.mjs'), 'replay-traces', ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
      });
    const r = await cli(...TRACE_FILES, '--to', `${a.url}/v1/samples`, '--token', INGEST_TOKEN, '--limit-rows', '5', '--batch', '50', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    // The first 5 rows were stored by the first test: all duplicates now.
    expect(summary).toMatchObject({ sent: 90, accepted: 90, stored: 0, duplicates: 90, rejected: 0, retries: 0, rows: 10, speedup: 'max' });
    expect(summary.vms.map((v: { name: string }) => v.name)).toEqual(['27', '41']);
    const bad = await cli(TRACE_FILES[0]!, '--to', `${a.url}/v1/samples`, '--speedup', 'fast');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('metering: --speedup: expected a positive number, 0 or max, got "fast"\n');
  });

  it('refuses a wrong token with a clear error instead of retrying', async () => {
    const sink = new HttpSink({ url: `${a.url}/v1/samples`, authorization: 'Bearer wrong-token-0123456789', form: 'as_dict', secret: SECRET });
    await expect(replayTraces({ files: TRACE_FILES, slice: { limitRows: 2 }, sink })).rejects.toThrow(/HTTP 401: unknown token/);
  });
});

describe('replay-traces under back-pressure', () => {
  it('waits out 429 Retry-After and resends: nothing dropped', async () => {
    // A buffer of 120 samples and three concurrent 90-sample bodies: the controller must refuse some.
    const a = await app('busy', { maxInFlightSamples: 120, batchMaxSamples: 60 });
    const sink = sinkFor(a, { concurrency: 3 });
    const rows = 30;
    const s = await replayTraces({ files: TRACE_FILES, slice: { limitRows: rows }, sink, batch: 90 });
    const n = expectedSamples(TRACE_FILES, rows).length;
    expect(sink.statuses['429']).toBeGreaterThan(0);
    expect(s.retries).toBe(sink.statuses['429']);
    expect(s).toMatchObject({ sent: n, accepted: n, stored: n, duplicates: 0, rejected: 0 });
    expect(await a.services.db.collection(COLLECTIONS.meter).countDocuments()).toBe(n);
  });
});
