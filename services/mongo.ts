import fs from 'node:fs';
import path from 'node:path';
import { ensureManaged, launchDaemon, type Endpoint } from './managed';
import { HOST, MONGO_STANDIN_LIBS, MONGO_STANDIN_SOURCE, STATE_DIR, serviceDir } from './paths';
import {
  ServiceUnavailableError,
  choosePort,
  findExecutable,
  portOpen,
  waitUntil,
} from './proc';
import { findJava } from './kafka';
import type { MongoTier, ServiceState } from './state';

export const MONGO_DEFAULT_PORT = 39017;
export const MONGO_REPLSET = 'rs0';
export const MONGO_STANDIN_VERSION = '1.47.0';

/** Where a real mongod binary comes from, in the order they are tried. */
type MongodSource = { bin: string; from: string };

/** The stand-in reports itself as process "java" in serverStatus; a real server says mongod/mongos. */
export async function detectMongoTier(uri: string): Promise<MongoTier> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const status = await client.db('admin').command({ serverStatus: 1 });
    return status.process === 'mongod' || status.process === 'mongos' ? 'real' : 'standin';
  } finally {
    await client.close();
  }
}

/** True when a MongoDB (either tier) at `uri` answers ping; for a replica set, when it has a primary. */
async function mongoHealthy(uri: string, tier: MongoTier | undefined): Promise<boolean> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1500, connectTimeoutMS: 1500 });
  try {
    const admin = client.db('admin');
    await admin.command({ ping: 1 });
    if (tier === 'real') {
      const hello = await admin.command({ hello: 1 });
      return hello.isWritablePrimary === true;
    }
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The tier forced by METERING_MONGO_TIER (real | standin), if any. */
function forcedTier(): MongoTier | undefined {
  const value = process.env.METERING_MONGO_TIER;
  if (!value) return undefined;
  if (value !== 'real' && value !== 'standin') {
    throw new ServiceUnavailableError('mongo', `METERING_MONGO_TIER=${value}: expected real or standin`);
  }
  return value;
}

/** Say whether mongodb-memory-server may try to download a mongod (it fails fast without internet). */
function downloadAllowed(): boolean {
  const off = (v: string | undefined) => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
  const disabledByZero = process.env.METERING_MONGO_DOWNLOAD === '0' || process.env.METERING_MONGO_DOWNLOAD === 'false';
  return !off(process.env.MONGOMS_DISABLE_DOWNLOAD) && !disabledByZero;
}

/** A failed download is remembered for an hour so that every test run does not retry it. */
const DOWNLOAD_FAILED_MARK = path.join(STATE_DIR, 'mongo-download-failed');
const DOWNLOAD_RETRY_MS = 60 * 60 * 1000;

async function downloadMongod(): Promise<MongodSource | undefined> {
  if (!downloadAllowed()) return undefined;
  try {
    if (Date.now() - fs.statSync(DOWNLOAD_FAILED_MARK).mtimeMs < DOWNLOAD_RETRY_MS) return undefined;
  } catch {
    /* no mark: try */
  }
  const timeoutMs = Number(process.env.METERING_MONGO_DOWNLOAD_TIMEOUT_MS ?? 120_000);
  try {
    const { MongoBinary } = await import('mongodb-memory-server-core');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    const bin = await Promise.race([MongoBinary.getPath({}), timeout]).finally(() => clearTimeout(timer));
    return { bin, from: 'mongodb-memory-server download' };
  } catch (err) {
    fs.mkdirSync(STATE_DIR, { recursive: true });
    fs.writeFileSync(DOWNLOAD_FAILED_MARK, `${new Date().toISOString()} ${(err as Error).message}\n`);
    return undefined;
  }
}

/** A real mongod: MONGO_BIN_DIR, MONGOMS_SYSTEM_BINARY, mongod on PATH, then a download. */
async function findMongod(): Promise<MongodSource | undefined> {
  const binDir = process.env.MONGO_BIN_DIR;
  if (binDir) {
    const bin = path.join(binDir, 'mongod');
    if (!fs.existsSync(bin)) throw new ServiceUnavailableError('mongo', `MONGO_BIN_DIR=${binDir} has no mongod`);
    return { bin, from: 'MONGO_BIN_DIR' };
  }
  const system = process.env.MONGOMS_SYSTEM_BINARY;
  if (system) {
    if (!fs.existsSync(system)) throw new ServiceUnavailableError('mongo', `MONGOMS_SYSTEM_BINARY=${system} does not exist`);
    return { bin: system, from: 'MONGOMS_SYSTEM_BINARY' };
  }
  const onPath = findExecutable('mongod');
  if (onPath) return { bin: onPath, from: 'PATH' };
  return downloadMongod();
}

/**
 * A MongoDB to talk to, and its tier:
 * 1. `MONGODB_URI` as given (tier detected from serverStatus, or METERING_MONGO_TIER);
 * 2. a real mongod (MONGO_BIN_DIR, MONGOMS_SYSTEM_BINARY, PATH, mongodb-memory-server download)
 *    started as a single-node replica set on 127.0.0.1;
 * 3. the Java stand-in (mongo-java-server, in memory) on 127.0.0.1.
 * `METERING_MONGO_TIER=standin` skips 2, `=real` skips 3.
 */
export async function ensureMongo(startedBy: string): Promise<Endpoint> {
  const forced = forcedTier();
  const uri = process.env.MONGODB_URI;
  if (uri) {
    let tier: MongoTier;
    try {
      tier = forced ?? (await detectMongoTier(uri));
    } catch (err) {
      throw new ServiceUnavailableError('mongo', `MONGODB_URI=${uri} is set but the server does not answer: ${(err as Error).message}`);
    }
    return { service: 'mongo', address: uri, tier, external: true, started: false };
  }
  return ensureManaged(
    'mongo',
    async (state) => (forced === undefined || state.tier === forced) && mongoHealthy(state.address, state.tier),
    async () => {
      const mongod = forced === 'standin' ? undefined : await findMongod();
      if (mongod) return startRealMongod(mongod, startedBy);
      if (forced === 'real') {
        throw new ServiceUnavailableError('mongo', 'no real mongod (METERING_MONGO_TIER=real): set MONGODB_URI=mongodb://host:port or MONGO_BIN_DIR=/dir/with/mongod');
      }
      return startStandIn(startedBy);
    },
  );
}

async function startRealMongod(source: MongodSource, startedBy: string): Promise<ServiceState> {
  const port = await choosePort('mongo', 'METERING_MONGO_PORT', MONGO_DEFAULT_PORT);
  const dir = serviceDir('mongo');
  const dataDir = path.join(dir, 'data');
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'mongod.log');
  const args = [
    '--port', String(port),
    '--bind_ip', HOST,
    '--dbpath', dataDir,
    '--replSet', MONGO_REPLSET,
    '--wiredTigerCacheSizeGB', '0.25',
    '--setParameter', 'diagnosticDataCollectionEnabled=false',
  ];
  const address = `mongodb://${HOST}:${port}/?directConnection=true`;
  return launchDaemon(
    { cmd: source.bin, args, logFile, cwd: dir },
    async (exited) => {
      await waitUntil(`mongod on ${HOST}:${port}`, async () => ((await portOpen(port)) ? true : undefined), 60_000, exited);
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(address, { serverSelectionTimeoutMS: 10_000 });
      try {
        const admin = client.db('admin');
        await admin.command({
          replSetInitiate: { _id: MONGO_REPLSET, members: [{ _id: 0, host: `${HOST}:${port}` }] },
        });
        await waitUntil(
          `replica set ${MONGO_REPLSET} primary`,
          async () => ((await admin.command({ hello: 1 })).isWritablePrimary === true ? true : undefined),
          60_000,
          exited,
          250,
        );
      } finally {
        await client.close();
      }
    },
    { service: 'mongo', ports: [port], address, tier: 'real', program: `${source.bin} (from ${source.from}, replica set ${MONGO_REPLSET})`, startedBy },
  );
}

async function startStandIn(startedBy: string): Promise<ServiceState> {
  const jar = path.join(MONGO_STANDIN_LIBS, `mongo-java-server-${MONGO_STANDIN_VERSION}.jar`);
  const java = findJava();
  if (!fs.existsSync(jar) || !java) {
    const missing = !java ? 'java not found (apt-get install openjdk-17-jre-headless)' : `stand-in jars missing in ${MONGO_STANDIN_LIBS} (run node scripts/ensure.mjs)`;
    throw new ServiceUnavailableError(
      'mongo',
      `no MongoDB: set MONGODB_URI=mongodb://host:port or MONGO_BIN_DIR=/dir/with/mongod for a real server; the stand-in cannot start: ${missing}`,
    );
  }
  const port = await choosePort('mongo', 'METERING_MONGO_PORT', MONGO_DEFAULT_PORT);
  const dir = serviceDir('mongo');
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'standin.log');
  // The memory backend holds every database the suite and the demo create: give it room, and make an
  // OutOfMemoryError end the JVM (the manager's health check then replaces it) instead of leaving a
  // server whose event loop died and that closes every connection.
  const heap = process.env.METERING_STANDIN_HEAP ?? '2g';
  const args = [`-Xmx${heap}`, '-XX:+ExitOnOutOfMemoryError', '-XX:TieredStopAtLevel=1', '-cp', path.join(MONGO_STANDIN_LIBS, '*'), MONGO_STANDIN_SOURCE, String(port), HOST];
  const address = `mongodb://${HOST}:${port}/?directConnection=true`;
  return launchDaemon(
    { cmd: java, args, logFile, cwd: dir },
    (exited) =>
      waitUntil(
        `MongoDB stand-in on ${HOST}:${port}`,
        async () => (fs.readFileSync(logFile, 'utf8').includes('READY ') && (await mongoHealthy(address, 'standin')) ? true : undefined),
        90_000,
        exited,
        250,
      ),
    { service: 'mongo', ports: [port], address, tier: 'standin', program: `java StandIn (mongo-java-server ${MONGO_STANDIN_VERSION}, memory backend)`, startedBy },
  );
}
