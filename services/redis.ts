import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureManaged, launchDaemon, type Endpoint } from './managed';
import { HOST, serviceDir } from './paths';
import {
  ServiceUnavailableError,
  choosePort,
  findExecutable,
  portOpen,
  waitUntil,
} from './proc';
import type { ServiceState } from './state';

/** Default port of the managed Redis (not 6379, so it never clashes with a Redis someone runs). */
export const REDIS_DEFAULT_PORT = 39379;

/** Send PING over RESP and resolve true on +PONG (or a NOAUTH reply: the server is up). */
export function redisPing(port: number, host = HOST, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}

function externalRedis(url: string): Promise<Endpoint> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ServiceUnavailableError('redis', `REDIS_URL=${url} is not a URL (expected redis://host:port)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ServiceUnavailableError('redis', `REDIS_URL=${url}: expected a redis:// or rediss:// URL`);
  }
  return portOpen(Number(parsed.port || 6379), parsed.hostname).then((open) => {
    if (!open) throw new ServiceUnavailableError('redis', `REDIS_URL=${url} is set but nothing answers at ${parsed.host}`);
    return { service: 'redis', address: url, external: true, started: false };
  });
}

/**
 * A Redis to talk to: `REDIS_URL` if set, else the managed `redis-server` (Debian package) on
 * 127.0.0.1 with no persistence (no RDB snapshots, no AOF), reused when already running.
 */
export async function ensureRedis(startedBy: string): Promise<Endpoint> {
  if (process.env.REDIS_URL) return externalRedis(process.env.REDIS_URL);
  return ensureManaged(
    'redis',
    (state) => redisPing(state.ports[0]!),
    () => startRedis(startedBy),
  );
}

async function startRedis(startedBy: string): Promise<ServiceState> {
  const bin = process.env.METERING_REDIS_SERVER || findExecutable('redis-server', ['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  if (!bin || !fs.existsSync(bin)) {
    throw new ServiceUnavailableError(
      'redis',
      'redis-server not found: apt-get install redis-server (or run node scripts/ensure.mjs as root), or set REDIS_URL=redis://host:port',
    );
  }
  const port = await choosePort('redis', 'METERING_REDIS_PORT', REDIS_DEFAULT_PORT);
  const dir = serviceDir('redis');
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis.log');
  const args = [
    '--bind', HOST,
    '--port', String(port),
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--dir', dir,
    '--logfile', '',
    '--databases', '16',
  ];
  return launchDaemon(
    { cmd: bin, args, logFile, cwd: dir },
    (exited) => waitUntil(`redis-server on ${HOST}:${port}`, async () => ((await redisPing(port)) ? true : undefined), 15_000, exited),
    { service: 'redis', ports: [port], address: `redis://${HOST}:${port}`, program: bin, startedBy },
  );
}
