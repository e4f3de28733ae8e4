import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, MongoClient } from 'mongodb';
import { isolation } from '../../support/isolation';
import { createIngestion, type Ingestion } from '../../../pipeline/ingest/pipeline-factory';
import { signSample } from '../../../pipeline/ceilometer/sign';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import type { Sample } from '../../../pipeline/sample';
import { connect, dropDb, makeSamples, testIngestConfig, testStoreConfig } from '../ingest/helpers';

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
    expect(intake.counters).toEqual({ arrived: 24, malformed: 2, rejected: 2, accepted: 20, dropped: 0 });
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
