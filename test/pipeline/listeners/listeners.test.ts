import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { createIngestion, type Ingestion } from '../../../pipeline/ingest/pipeline-factory';
import { signMessage, signSample } from '../../../pipeline/ceilometer/sign';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import type { Sample } from '../../../pipeline/sample';
import { connect, dropDb, makeSample, makeSamples, testIngestConfig, testStoreConfig } from '../ingest/helpers';
import { createKafka } from '../../../pipeline/kafka/client';
import { kafkaConfig } from '../../../pipeline/config';
import { kafkaBrokers } from '../../support/services';

// The udp:// and tcp:// listeners with hand-made traffic (Ceilometer's own publishers are in
// test/interop/ceilometer-transports.test.ts): counting, dead letters, TCP framing across reads.

const iso = isolation(import.meta.url);
const SECRET = 'listener-secret';
let client: MongoClient;
let db: Db;
let ing: Ingestion;
let ports: { udpPort?: number; tcpPort?: number };

/** msgpack of a JSON value as Python's msgpack.dumps would write it (integral numbers as ints). */
function pack(v: unknown): Buffer {
  if (v === null || v === undefined) return Buffer.from([0xc0]);
  if (v === true) return Buffer.from([0xc3]);
  if (v === false) return Buffer.from([0xc2]);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0xd2;
      b.writeInt32BE(v, 1);
      return b;
    }
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(v, 1);
    return b;
  }
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    return Buffer.concat([Buffer.from([0xdb, ...[24, 16, 8, 0].map((k) => (s.length >> k) & 0xff)]), s]);
  }
  if (Array.isArray(v)) return Buffer.concat([Buffer.from([0xdd, 0, 0, (v.length >> 8) & 0xff, v.length & 0xff]), ...v.map(pack)]);
  const entries = Object.entries(v as Record<string, unknown>);
  return Buffer.concat([Buffer.from([0xdf, 0, 0, (entries.length >> 8) & 0xff, entries.length & 0xff]), ...entries.flatMap(([k, x]) => [pack(k), pack(x)])]);
}

const message = (s: Sample, secret = SECRET) => pack(signSample(s, secret));
const frame = (m: Buffer) => {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(m.length));
  return Buffer.concat([len, m]);
};

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
  ing = await createIngestion(
    { store: testStoreConfig(db.databaseName), ingest: testIngestConfig({ telemetrySecret: SECRET, udp: { enabled: true, host: '127.0.0.1', port: 0 }, tcp: { enabled: true, host: '127.0.0.1', port: 0 } }) },
    { db, startConsumer: false },
  );
  ports = await ing.start();
});
afterAll(async () => {
  await ing?.close();
  await dropDb(db);
  await client?.close();
});

describe('udp:// listener', () => {
  it('stores valid datagrams, counts and dead-letters malformed and forged ones', async () => {
    const good = makeSamples(20, { resource_id: 'udp-vm' });
    const forged = makeSamples(2, { resource_id: 'udp-forged' });
    const sock = dgram.createSocket('udp4');
    const send = (b: Buffer) => new Promise<void>((r, j) => sock.send(b, ports.udpPort!, '127.0.0.1', (e) => (e ? j(e) : r())));
    for (const s of good) await send(message(s));
    for (const s of forged) await send(message(s, 'other-secret'));
    await send(Buffer.from([0xc4, 0x01, 0x00])); // binary: malformed
    await send(Buffer.from('not msgpack at all')); // trailing bytes: malformed
    sock.close();
    const intake = ing.udp!.intake;
    await waitFor('24 datagrams handled', () => intake.counters.accepted + intake.counters.rejected + intake.counters.malformed >= 24);
    expect(intake.counters).toEqual({ arrived: 24, malformed: 2, rejected: 2, accepted: 20, logged: 0, dropped: 0 });
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ resource_id: 'udp-vm' })).toBe(20);
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ resource_id: 'udp-forged' })).toBe(0);
    await waitFor('4 dead letters', async () => (await db.collection(COLLECTIONS.deadLetter).countDocuments({ source: 'udp' })) === 4);
    const letters = await db.collection(COLLECTIONS.deadLetter).find({ source: 'udp' }).toArray();
    expect(letters.map((l) => String(l.reason).split(':')[0]).sort()).toEqual(['message_signature', 'message_signature', 'msgpack', 'msgpack']);
  });
});

describe('tcp:// listener', () => {
  it('reassembles length-prefixed frames split across reads and several per read; an oversized length closes the connection', async () => {
    const good = makeSamples(30, { resource_id: 'tcp-vm' });
    const stream = Buffer.concat(good.map((s) => frame(message(s))));
    const sock = net.connect(ports.tcpPort!, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    // odd-sized writes: frames cut at every possible place, several frames per write
    for (let at = 0; at < stream.length; at += 97) {
      sock.write(stream.subarray(at, at + 97));
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor('30 samples stored', async () => (await db.collection(COLLECTIONS.meter).countDocuments({ resource_id: 'tcp-vm' })) === 30);
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(2n ** 40n);
    sock.write(huge);
    await new Promise((r) => sock.once('close', r));
    expect(ing.tcp!.intake.counters).toMatchObject({ accepted: 30, malformed: 1 });
  });
});

// Poison alone, first and last (issue 10's "on every transport"): a signed message whose sample the
// validator refuses — a NUL in a metadata key (refused by the store screen) or no counter_name
// (refused by the parser) — is dead-lettered with its reason and transport; its neighbours are stored
// once and the listener keeps taking traffic.
const nulKey = (s: Sample) => message({ ...s, resource_metadata: { 'k\u0000': 'v' } });
const noCounterName = (s: Sample) => {
  const { counter_name: _gone, message_signature: _sig, ...rest } = signSample(s, SECRET);
  return pack(signMessage(rest, SECRET));
};
const meterCount = (resource_id: string) => db.collection(COLLECTIONS.meter).countDocuments({ resource_id });
const lettersAbout = (resource_id: string) => db.collection(COLLECTIONS.deadLetter).find({ payload: { $regex: resource_id } }).toArray();

/** The two poison letters of `resource` (NUL key, no counter_name), from `source`, with their reasons; the NUL one names `first` at index 0. */
async function twoPoisonLetters(resource: string, source: string, first: Sample) {
  await waitFor('2 dead letters', async () => (await lettersAbout(resource)).length === 2);
  const letters = await lettersAbout(resource);
  expect(letters.every((l) => l.source === source)).toBe(true);
  const reasons = letters.map((l) => String(l.reason)).sort();
  expect(reasons[0]).toMatch(/resource_metadata: key "k\\u0000" contains a NUL character/);
  expect(reasons[1]).toMatch(/neither a meter message \(no counter_name\)/);
  expect(letters.find((l) => /NUL/.test(String(l.reason)))).toMatchObject({ message_id: first.message_id, index: 0 });
  return letters;
}

describe('udp:// poison datagrams first and last', () => {
  it('dead-letters both with their reasons (source udp), stores the 10 between once, and keeps listening', async () => {
    const [first, last] = [makeSample({ resource_id: 'udp-poison' }), makeSample({ resource_id: 'udp-poison' })];
    const good = makeSamples(10, { resource_id: 'udp-amid' });
    const sock = dgram.createSocket('udp4');
    const send = (b: Buffer) => new Promise<void>((r, j) => sock.send(b, ports.udpPort!, '127.0.0.1', (e) => (e ? j(e) : r())));
    const intake = ing.udp!.intake;
    const before = { ...intake.counters };
    await send(nulKey(first));
    for (const s of good) await send(message(s));
    await send(noCounterName(last));
    await waitFor('10 stored', async () => (await meterCount('udp-amid')) === 10);
    const letters = await twoPoisonLetters('udp-poison', 'udp', first);
    expect(letters.find((l) => /no counter_name/.test(String(l.reason)))).toMatchObject({ index: -1 }); // the whole message
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ message_id: { $in: [first.message_id, last.message_id] } })).toBe(0);
    // the listener's counters (exported at /metrics) say what was taken and what was refused
    expect(intake.counters.arrived - before.arrived).toBe(12);
    expect(intake.counters.accepted - before.accepted).toBe(10);
    expect(intake.counters.rejected - before.rejected).toBe(2);
    // still listening: a later datagram is stored
    const later = makeSample({ resource_id: 'udp-amid' });
    await send(message(later));
    sock.close();
    await waitFor('the later datagram stored', async () => (await meterCount('udp-amid')) === 11);
    const ids = (await db.collection(COLLECTIONS.meter).find({ resource_id: 'udp-amid' }).toArray()).map((d) => d.message_id);
    expect(new Set(ids)).toEqual(new Set([...good, later].map((s) => s.message_id)));
  });
});

describe('tcp:// poison frames on one connection', () => {
  it('[poison, 10 valid, poison, 1 valid]: 11 stored once, 2 dead letters (source tcp), the connection stays open and keeps being read', async () => {
    const [first, mid] = [makeSample({ resource_id: 'tcp-poison' }), makeSample({ resource_id: 'tcp-poison' })];
    const good = makeSamples(11, { resource_id: 'tcp-amid' });
    const stream = Buffer.concat([frame(nulKey(first)), ...good.slice(0, 10).map((s) => frame(message(s))), frame(noCounterName(mid)), frame(message(good[10]!))]);
    const intake = ing.tcp!.intake;
    const before = { ...intake.counters };
    const sock = net.connect(ports.tcpPort!, '127.0.0.1');
    let closed = false;
    sock.on('close', () => (closed = true));
    await new Promise((r) => sock.once('connect', r));
    sock.write(stream);
    await waitFor('11 stored', async () => (await meterCount('tcp-amid')) === 11);
    await twoPoisonLetters('tcp-poison', 'tcp', first);
    expect(intake.counters.accepted - before.accepted).toBe(11);
    expect(intake.counters.rejected - before.rejected).toBe(2);
    // the server did not hang up: one more frame on the same connection is stored
    expect(closed).toBe(false);
    const later = makeSample({ resource_id: 'tcp-amid' });
    sock.write(frame(message(later)));
    await waitFor('the later frame stored', async () => (await meterCount('tcp-amid')) === 12);
    expect(closed).toBe(false);
    const ids = (await db.collection(COLLECTIONS.meter).find({ resource_id: 'tcp-amid' }).toArray()).map((d) => d.message_id);
    expect(ids).toHaveLength(12);
    expect(new Set(ids)).toEqual(new Set([...good, later].map((s) => s.message_id)));
    sock.end();
  });
});

describe('tcp:// poison as the last frame, and alone on a connection', () => {
  it('each dead-lettered (source tcp), the frames before it stored once, and the listener keeps taking connections', async () => {
    const [last, lone] = [makeSample({ resource_id: 'tcp-edge-poison' }), makeSample({ resource_id: 'tcp-edge-poison' })];
    const good = makeSamples(3, { resource_id: 'tcp-edge' });
    const connection = async (stream: Buffer) => {
      const sock = net.connect(ports.tcpPort!, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.end(stream);
    };
    await connection(Buffer.concat([...good.map((s) => frame(message(s))), frame(nulKey(last))]));
    await connection(frame(noCounterName(lone)));
    await waitFor('3 stored', async () => (await meterCount('tcp-edge')) === 3);
    await twoPoisonLetters('tcp-edge-poison', 'tcp', last).then((letters) => {
      // the NUL one was the last frame of its connection, but the first (and only) sample of its message
      expect(letters.find((l) => /no counter_name/.test(String(l.reason)))).toMatchObject({ index: -1 });
    });
    const later = makeSample({ resource_id: 'tcp-edge' });
    await connection(frame(message(later)));
    await waitFor('a later connection stored', async () => (await meterCount('tcp-edge')) === 4);
    expect(await db.collection(COLLECTIONS.meter).countDocuments({ message_id: { $in: [last.message_id, lone.message_id] } })).toBe(0);
  });
});

describe('udp:// with acceptance log: the counters say what they count', () => {
  it('a datagram taken into the ingest log counts as logged, not accepted; one the screen refuses at drain counts as refused against udp', async () => {
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: `${iso.id}-log` });
    const logDb = client.db(iso.dbName('log'));
    const logged = await createIngestion(
      {
        store: testStoreConfig(logDb.databaseName),
        ingest: { ...testIngestConfig({ telemetrySecret: SECRET, udp: { enabled: true, host: '127.0.0.1', port: 0 } }), acceptance: 'log' },
        kafka: kafkaConfig.parse({ brokers: kafkaBrokers(), groupId: iso.groupId('log'), topics: [iso.topic('unused')], ingestTopic: iso.topic('ingest'), fromBeginning: true, fetchMaxWaitMs: 100, clientId: iso.id }),
      },
      { db: logDb, kafka, kafkaEnabled: true, startConsumer: false },
    );
    try {
      const { udpPort } = await logged.start();
      const good = makeSamples(2, { resource_id: 'udp-log-vm' });
      const huge = makeSample({ resource_id: 'udp-log-vm', counter_volume: 1e300 }); // implausible: beyond maxAbsVolume
      const sock = dgram.createSocket('udp4');
      for (const s of [...good, huge]) await new Promise<void>((r, j) => sock.send(message(s), udpPort!, '127.0.0.1', (e) => (e ? j(e) : r())));
      sock.close();
      const intake = logged.udp!.intake;
      await waitFor('3 datagrams logged', () => intake.counters.logged >= 3);
      await waitFor('2 stored', async () => (await logDb.collection(COLLECTIONS.meter).countDocuments({ resource_id: 'udp-log-vm' })) === 2, 30_000);
      await waitFor('the implausible one dead-lettered', async () => (await logDb.collection(COLLECTIONS.deadLetter).countDocuments({ message_id: huge.message_id })) === 1, 30_000);
      expect(intake.counters).toMatchObject({ arrived: 3, logged: 3, accepted: 0, rejected: 0 });
      expect(logged.ingestor.metrics.snapshot()).toMatchObject({
        metering_ingest_udp_samples_logged_total: 3,
        metering_ingest_udp_samples_refused_total: 1,
        metering_ingest_kafka_samples_refused_total: 0,
        metering_ingest_samples_accepted_total: 2,
      });
      expect(intake.snapshot()).toMatchObject({ metering_ingest_udp_samples_accepted_total: 0 });
    } finally {
      await logged.close();
      await dropDb(logDb);
    }
  }, 60_000);
});
