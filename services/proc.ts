import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HOST } from './paths';

/** A service that could not be had: the message says which and how to get it. */
export class ServiceUnavailableError extends Error {
  constructor(readonly service: string, message: string) {
    super(message);
    this.name = 'ServiceUnavailableError';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True when a process with this pid exists (signal 0 probes without touching it). */
export function pidAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Start `cmd args` as a detached daemon (own process group, survives the caller) with stdout and
 * stderr appended to `logFile` (environment `env`, default the caller's). Returns its pid.
 */
export function spawnDaemon(cmd: string, args: string[], logFile: string, cwd: string, env?: NodeJS.ProcessEnv): number {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'w');
  try {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** SIGTERM `pid` and wait up to `graceMs` for it to exit, then SIGKILL. */
export async function stopPid(pid: number, graceMs = 20_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (pidAlive(pid)) await sleep(50);
}

/**
 * Poll `check` until it returns a value other than undefined, or throw after `timeoutMs`.
 * `failFast` is asked each round; a string it returns aborts at once with that reason
 * (e.g. the child died).
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  failFast: () => string | undefined = () => undefined,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    const reason = failFast();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${Math.round(timeoutMs / 1000)} s`);
    await sleep(intervalMs);
  }
}

/** True when something accepts TCP connections on HOST:port. */
export function portOpen(port: number, host = HOST, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A port on HOST that is free right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The port a new instance should use: `envName` if set (used as given: busy → error), else
 * `preferred` if free, else one the OS picks (another checkout on this machine may hold the default).
 */
export async function choosePort(service: string, envName: string, preferred: number): Promise<number> {
  const fromEnv = process.env[envName];
  if (fromEnv) {
    const port = Number(fromEnv);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new ServiceUnavailableError(service, `${envName}=${fromEnv} is not a TCP port number`);
    }
    if (await portOpen(port)) {
      throw new ServiceUnavailableError(
        service,
        `${service}: ${envName}=${port} but 127.0.0.1:${port} is already taken by another process; choose a free port`,
      );
    }
    return port;
  }
  return (await portOpen(preferred)) ? freePort() : preferred;
}

/** The last `lines` lines of a log file (for error messages), or '' when it cannot be read. */
export function tailFile(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Absolute path of an executable found on PATH (plus `extraDirs`), or undefined. */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Run a command to completion (used for one-shot tools such as Kafka's StorageTool). */
export function runToCompletion(cmd: string, args: string[], cwd: string, timeoutMs: number): { code: number; output: string } {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { code: result.status ?? -1, output };
}

/**
 * Run `fn` while holding an exclusive lock file (`<file>`, holds the owner's pid). Several test runs
 * and CLI calls share one `.services/` directory; the lock makes "check, else start" atomic.
 * A lock whose owner died is taken over.
 */
export async function withLock<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8').trim() || '0');
      if (owner !== process.pid && !pidAlive(owner)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${file} held by pid ${owner}`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}
