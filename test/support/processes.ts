import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { REPO } from './paths';
import { kafkaBrokers, mongoUri, redisUrl } from './services';

/**
 * Running real controller processes (`node bin/metering.mjs serve`) from a test: a free port, a
 * bounded wait for a condition, the spawn itself with the run's services in the environment, and a
 * wait for a Kafka consumer group to settle. Shared by the multi-process tests of issue 20.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Poll `check` until it gives a truthy value (returned); a check that throws counts as not yet. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Start `metering serve` with the given configuration file (and port, when not in the file), with the
 * run's MongoDB, Kafka and Redis in the environment. stderr is drained (or kept in `stderr` when
 * `keepStderr`, for a failure message).
 */
export function spawnController(configFile: string, opts: { port?: number; env?: Record<string, string>; keepStderr?: boolean } = {}): ChildProcess & { stderrText: () => string } {
  const args = [path.join(REPO, 'bin/metering.mjs'), '--config', configFile, 'serve', ...(opts.port !== undefined ? ['--port', String(opts.port)] : [])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, MONGODB_URI: mongoUri(), KAFKA_BROKERS: kafkaBrokers().join(','), REDIS_URL: redisUrl(), ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  }) as ChildProcess & { stderrText: () => string };
  let text = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (opts.keepStderr) text = (text + b.toString()).slice(-20_000);
  });
  child.stderrText = () => text;
  return child;
}

/** Resolves once the process has exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Wait until `/healthz` of the controller on `port` answers 200. */
export async function healthy(port: number, timeoutMs = 120_000): Promise<void> {
  await until(`controller :${port} to answer`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true, timeoutMs, 200);
}

/** Wait until the consumer group is Stable with exactly `n` members. */
export async function groupStable(kafka: Kafka, group: string, n: number, timeoutMs = 90_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await until(
      `consumer group ${group} stable with ${n} members`,
      async () => {
        const { groups } = await admin.describeGroups([group]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === n;
      },
      timeoutMs,
      200,
    );
  } finally {
    await admin.disconnect();
  }
}
