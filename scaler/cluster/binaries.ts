import fs from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../../services/proc';

export const NO_BINARIES_MESSAGE = 'no mongod/mongos binaries: set MONGO_BIN_DIR=/path/to/mongodb/bin (MongoDB 7.0/8.0)';

/** Thrown when the local cluster cannot be started; the CLI exits 2 with this message. */
export class NoBinariesError extends Error {
  constructor(detail?: string) {
    super(detail ? `${NO_BINARIES_MESSAGE}\n  ${detail}` : NO_BINARIES_MESSAGE);
  }
}

export interface MongoBinaries {
  mongod: string;
  mongos: string;
  from: string;
}

const executable = (p: string): boolean => {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * mongod + mongos for the local sharded cluster: `MONGO_BIN_DIR` (both from one MongoDB 7.0/8.0
 * tarball), else both on PATH. mongod alone could come from mongodb-memory-server's downloader
 * (`MongoBinary.getPath()`, or MONGOMS_SYSTEM_BINARY), but that downloader extracts only mongod, so
 * a cluster still needs mongos from MONGO_BIN_DIR; `tryDownload` tries it when mongos is found.
 */
export async function findBinaries(opts: { tryDownload?: boolean } = {}): Promise<MongoBinaries> {
  const dir = process.env.MONGO_BIN_DIR;
  if (dir) {
    const mongod = path.join(dir, 'mongod');
    const mongos = path.join(dir, 'mongos');
    const missing = [mongod, mongos].filter((p) => !executable(p));
    if (missing.length) throw new NoBinariesError(`MONGO_BIN_DIR=${dir} lacks ${missing.map((p) => path.basename(p)).join(' and ')}`);
    return { mongod, mongos, from: 'MONGO_BIN_DIR' };
  }
  const mongos = findExecutable('mongos');
  let mongod = findExecutable('mongod') ?? (process.env.MONGOMS_SYSTEM_BINARY && executable(process.env.MONGOMS_SYSTEM_BINARY) ? process.env.MONGOMS_SYSTEM_BINARY : undefined);
  if (!mongos) throw new NoBinariesError('mongos not found on PATH (mongodb-memory-server downloads only mongod, so it cannot provide mongos)');
  if (!mongod && opts.tryDownload) {
    try {
      const { MongoBinary } = await import('mongodb-memory-server-core');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 60 s')), 60_000)));
      mongod = await Promise.race([MongoBinary.getPath({}), timeout]).finally(() => clearTimeout(timer));
    } catch (err) {
      throw new NoBinariesError(`mongod not found on PATH and the mongodb-memory-server download failed: ${(err as Error).message}`);
    }
  }
  if (!mongod) throw new NoBinariesError('mongod not found on PATH');
  return { mongod, mongos, from: 'PATH' };
}

/** True when real cluster binaries are configured (used to gate real-cluster tests). */
export function realBinariesConfigured(): boolean {
  const dir = process.env.MONGO_BIN_DIR;
  return !!dir && executable(path.join(dir, 'mongod')) && executable(path.join(dir, 'mongos'));
}
