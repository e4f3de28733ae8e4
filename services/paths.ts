import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root (services/ sits directly under it). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the manager keeps state, pid files, logs, data dirs and downloaded jars: `.services/` in the
 * checkout (git-ignored). `METERING_SERVICES_DIR` moves it.
 */
export const STATE_DIR = process.env.METERING_SERVICES_DIR
  ? path.resolve(process.env.METERING_SERVICES_DIR)
  : path.join(REPO, '.services');

/** Working directory of one service (`.services/<name>`). */
export const serviceDir = (name: string): string => path.join(STATE_DIR, name);

/** Kafka 3.9.1 jars fetched by scripts/ensure.mjs (`METERING_KAFKA_LIBS` overrides). */
export const KAFKA_LIBS = process.env.METERING_KAFKA_LIBS
  ? path.resolve(process.env.METERING_KAFKA_LIBS)
  : path.join(STATE_DIR, 'kafka', 'libs');

/** mongo-java-server jars fetched by scripts/ensure.mjs (`METERING_MONGO_STANDIN_LIBS` overrides). */
export const MONGO_STANDIN_LIBS = process.env.METERING_MONGO_STANDIN_LIBS
  ? path.resolve(process.env.METERING_MONGO_STANDIN_LIBS)
  : path.join(STATE_DIR, 'mongo-standin', 'libs');

/** The Java single-file launcher of the stand-in. */
export const MONGO_STANDIN_SOURCE = path.join(REPO, 'services', 'mongo-standin', 'StandIn.java');

/** Loopback only: no service is ever bound to or reached on another address. */
export const HOST = '127.0.0.1';
