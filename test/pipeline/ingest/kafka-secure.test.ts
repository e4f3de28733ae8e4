import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, writePem } from '../../../lib/certs';
import { checkKafkaConnection, createKafka, ensureTopics } from '../../../pipeline/kafka/client';
import { connectProducer, publishSamples } from '../../../pipeline/kafka/producer';
import { createIngestion, resolveIngestionConfig } from '../../../pipeline/ingest/pipeline-factory';
import { COLLECTIONS } from '../../../pipeline/store/layout';
import { kafkaJarsPresent } from '../../../services/kafka';
import { startSecureKafka, type SecureKafka } from '../../../services/kafka-secure';
import { STATE_DIR } from '../../../services/paths';
import { isolation } from '../../support/isolation';
import { connect, dropDb, makeSamples, testIngestConfig, testStoreConfig } from './helpers';

// A real Kafka 3.9.1 broker that accepts clients only over SASL_SSL with a client certificate: TLS
// from a CA made here, SCRAM users created by Kafka's own StorageTool. The product's consumer,
// producer and admin client reach it through kafka.ssl / kafka.sasl; wrong CA, missing client
// certificate and wrong password each fail at start-up with a sentence naming the setting.

const iso = isolation(import.meta.url);
const SECRET = 'kafka-secure-secret';
const USER = { name: 'metering', password: 'metering-sasl-password' };
const jars = kafkaJarsPresent();
if (!jars) console.warn(`skipped: the SASL_SSL Kafka tests start their own broker and need the Kafka jars (node scripts/ensure.mjs); KAFKA_BROKERS points at an external one`);

const ca = new TestCa('kafka test CA');
const stranger = new TestCa('not the kafka CA');
mkdirSync(STATE_DIR, { recursive: true });
const dir = mkdtempSync(path.join(STATE_DIR, 'kafka-secure-'));
const caFile = path.join(dir, 'ca.crt');
writeFileSync(caFile, ca.cert);
const strangerCaFile = path.join(dir, 'stranger-ca.crt');
writeFileSync(strangerCaFile, stranger.cert);
const client = writePem(dir, 'client', ca.client('metering-controller'));

let broker: SecureKafka;
let mongo: MongoClient;
const dbs: Db[] = [];

const settings = (over: { mechanism?: 'plain' | 'scram-sha-256' | 'scram-sha-512'; password?: string; ca?: string; cert?: boolean } = {}) =>
  resolveIngestionConfig({
    kafka: {
      brokers: broker.brokers,
      clientId: iso.id,
      groupId: iso.groupId(over.mechanism ?? 'scram'),
      fetchMaxWaitMs: 100,
      ssl: { enabled: true, ca: over.ca ?? caFile, ...(over.cert === false ? {} : { cert: client.cert, key: client.key }) },
      sasl: { mechanism: over.mechanism ?? 'scram-sha-512', username: USER.name, password: over.password ?? USER.password },
    },
  }).kafka;

describe.skipIf(!jars)('Kafka over SASL_SSL (a real broker requiring TLS, a client certificate and SASL)', () => {
  beforeAll(async () => {
    broker = await startSecureKafka({ dir, server: ca.server(), ca: ca.cert, clientAuth: 'required', users: [USER] });
    mongo = await connect();
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const d of dbs) await dropDb(d);
    await mongo?.close();
  });

  it('admin, producer and the ingestion consumer work with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN', async () => {
    for (const mechanism of ['scram-sha-512', 'scram-sha-256', 'plain'] as const) {
      const cfg = { ...settings({ mechanism }), topics: [iso.topic(mechanism)], groupId: iso.groupId(mechanism) };
      const kafka = createKafka(cfg);
      await checkKafkaConnection(kafka, cfg);
      await ensureTopics(kafka, cfg.topics);
      const producer = await connectProducer(kafka);
      const samples = makeSamples(25);
      await publishSamples(producer, cfg.topics[0]!, samples, 'counter', SECRET);
      await producer.disconnect();

      const db = mongo.db(iso.dbName(mechanism));
      dbs.push(db);
      const ingestion = await createIngestion({ store: testStoreConfig(db.databaseName), ingest: testIngestConfig({ telemetrySecret: SECRET }), kafka: cfg }, { db, kafka });
      try {
        const deadline = Date.now() + 30_000;
        while ((await db.collection(COLLECTIONS.meter).countDocuments()) < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        const ids = new Set(await db.collection(COLLECTIONS.meter).distinct('message_id'));
        expect(ids.size, mechanism).toBe(25);
        for (const s of samples) expect(ids.has(s.message_id)).toBe(true);
      } finally {
        await ingestion.close();
      }
    }
  }, 120_000);

  it('a wrong password, a CA that does not sign the broker, or no client certificate: a start-up error naming the setting', async () => {
    const wrongPassword = settings({ password: 'not-the-password' });
    await expect(checkKafkaConnection(createKafka(wrongPassword), wrongPassword)).rejects.toThrow(/^kafka\.sasl: the brokers \(127\.0\.0\.1:\d+\) refused scram-sha-512 authentication for user "metering"/);
    const wrongCa = settings({ ca: strangerCaFile });
    await expect(checkKafkaConnection(createKafka(wrongCa), wrongCa)).rejects.toThrow(/^kafka\.ssl: TLS handshake with 127\.0\.0\.1:\d+ failed: .*(self[- ]signed|unable to verify|certificate)/i);
    const noCert = settings({ cert: false });
    await expect(checkKafkaConnection(createKafka(noCert), noCert)).rejects.toThrow(/^kafka\.(ssl|brokers):/);
    // the password never appears in what the operator is told
    const message = await checkKafkaConnection(createKafka(wrongPassword), wrongPassword).catch((e: Error) => e.message);
    expect(message).not.toContain('not-the-password');
  }, 120_000);
});
