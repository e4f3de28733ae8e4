import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import type { Sample } from '../../../pipeline/sample';
import { resolveIngestionConfig } from '../../../pipeline/ingest/pipeline-factory';
import type { IngestConfig, StoreConfig } from '../../../pipeline/config';
import { mongoTier, mongoUri } from '../../support/services';

let seq = 0;

/**
 * A valid sample; `over` replaces any field. Timestamps default to a fixed base + seq seconds. Resources
 * default to one of five VMs of the sample's project (a resource belongs to one project).
 */
export function makeSample(over: Partial<Sample> = {}): Sample {
  seq++;
  const project = over.project_id === undefined ? 'project-1' : over.project_id;
  return {
    counter_name: 'cpu_util',
    counter_type: 'gauge',
    counter_unit: '%',
    counter_volume: 10 + (seq % 50),
    user_id: 'user-1',
    project_id: 'project-1',
    resource_id: project === 'project-1' ? `vm-${seq % 5}` : `vm-${seq % 5}-${project}`,
    timestamp: new Date(Date.UTC(2024, 4, 1, 12, 0, 0) + seq * 1000),
    resource_metadata: { display_name: 'web', flavor: { name: 'm1.small', vcpus: 1 } },
    source: 'openstack',
    message_id: randomUUID(),
    message_signature: '',
    ...over,
  };
}

export const makeSamples = (n: number, over: Partial<Sample> = {}): Sample[] => Array.from({ length: n }, () => makeSample(over));

/** The write concern this run's MongoDB supports: majority on a real replica set, 1 (explicitly) on the stand-in. */
export function testStoreConfig(database: string, over: Partial<StoreConfig> = {}): StoreConfig {
  return resolveIngestionConfig({
    store: { uri: mongoUri(), database, writeConcern: mongoTier() === 'real' ? 'majority' : 1, serverSelectionTimeoutMs: 1500, ...over },
  }).store;
}

export function testIngestConfig(over: Partial<IngestConfig> = {}): IngestConfig {
  return resolveIngestionConfig({ ingest: { batchMaxAgeMs: 5, retryInitialMs: 20, retryMaxMs: 200, ...over } }).ingest;
}

export async function connect(uri = mongoUri(), serverSelectionTimeoutMS = 1500): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS, connectTimeoutMS: 1000, socketTimeoutMS: 3000 });
  await client.connect();
  return client;
}

export async function dropDb(db: Db): Promise<void> {
  await db.dropDatabase().catch(() => undefined);
}

/**
 * A TCP proxy in front of the run's MongoDB that can be cut and restored: an outage of the store as
 * the ingestion path sees it (connections reset, new ones refused), without losing what was stored.
 */
export class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static forUri(uri: string): CuttableProxy {
    const m = /mongodb:\/\/([^/:,]+):(\d+)/.exec(uri);
    if (!m) throw new Error(`cannot proxy ${uri}`);
    return new CuttableProxy(m[1]!, Number(m[2]));
  }

  /** The URI that goes through the proxy. */
  uri(): string {
    return `mongodb://127.0.0.1:${this.port}/?directConnection=true`;
  }

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
