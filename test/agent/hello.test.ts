import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RequestBroker } from '../../agent/broker';
import type { Discovery } from '../../agent/metrics';
import { helloDelayMs } from '../../agent/protocol';
import { RawStore } from '../../agent/raw-store';
import { Responder } from '../../agent/responder';
import { findExecutable, portOpen } from '../../services/proc';
import { isolation } from '../support/isolation';
import { redisUrl } from '../support/services';
import { freePort, waitFor } from './helpers';

/**
 * A controller that starts after the agents (a new controller of a cluster, or a restart) knows them
 * at once: it publishes a hello, and every agent heartbeats within a second instead of at its next
 * period (here 600 s, so only the hello can explain it). Real Redis.
 */
const iso = isolation(import.meta.url);
const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-hello-'));
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const discovery = (host: string): Discovery => ({
  host, architecture: 'x86_64', cpu_model: 'test cpu', cpu_cores: 4, memory_total_bytes: 1 << 30,
  metrics: [{ name: 'hardware.cpu.util', type: 'gauge', unit: '%', resource_id: host }],
  resources: [],
});

describe('controller hello', () => {
  it('the hello delay is below a second and below half the heartbeat period', () => {
    expect(helloDelayMs(15, 0)).toBe(0);
    expect(helloDelayMs(15, 0.999)).toBeLessThan(1000);
    expect(helloDelayMs(1, 0.999)).toBeLessThan(500);
  });

  it('agents that heartbeated before a controller started are known to it within a second or so', async () => {
    const prefix = `hello-${iso.id}`;
    const hosts = ['h1', 'h2', 'h3'];
    for (const h of hosts) {
      const store = new RawStore({ dir: path.join(dir, h), retentionMs: 3_600_000, maxBytes: 1 << 20, segmentBytes: 1 << 16, segmentMs: 600_000, fsyncMs: 1000 });
      const r = await Responder.start({ redisUrl: redisUrl(), prefix, host: h, instance: `${h}-1`, heartbeatS: 600, store, discovery: () => discovery(h) });
      closers.push(() => r.close());
    }
    const started = Date.now();
    const broker = await RequestBroker.start({ redisUrl: redisUrl(), prefix, timeoutMs: 2000, maxInFlight: 10, missedHeartbeats: 3 });
    closers.push(() => broker.close());
    await waitFor('every agent known to the late controller', async () => broker.registry.size === hosts.length, 5000, 50);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(broker.registry.list().map((e) => e.host)).toEqual(hosts);
    expect(broker.registry.locate('h2')).toEqual({ host: 'h2', project_id: null, meters: ['hardware.cpu.util'] });
  });
});

describe('request queue unreachable', () => {
  it('a failed start leaves no Redis client behind reconnecting (the agent retries every retry_s: none may pile up)', async () => {
    const port = await freePort();
    const store = new RawStore({ dir: path.join(dir, 'unreachable'), retentionMs: 60_000, maxBytes: 1 << 20, segmentBytes: 1 << 16, segmentMs: 60_000, fsyncMs: 0 });
    await expect(Responder.start({ redisUrl: `redis://127.0.0.1:${port}`, prefix: `t-${iso.id}`, host: 'h-unreachable', instance: 'i', heartbeatS: 15, store, discovery: () => discovery('h-unreachable') })).rejects.toThrow();
    // Redis "comes back" on that port: a leaked client would connect to it within its retry delay (≤ 2 s)
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await new Promise((r) => setTimeout(r, 3000));
      expect(connections).toBe(0);
    } finally {
      server.close();
      store.close();
    }
  });
});

describe('the controller side when its Redis user may not subscribe', () => {
  const redisServer = findExecutable('redis-server', ['/usr/sbin', '/usr/bin']);
  it('a failed broker start (NOPERM on SUBSCRIBE) leaves no connection open (the module retries every 5 s)', async () => {
    if (!redisServer) throw new Error('redis-server not found (scripts/ensure.mjs installs it from Debian)');
    const port = await freePort();
    const child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--user', 'no-sub', 'on', '>no-sub-password', 'allchannels', '-@all', '+publish', '+ping', '+info'], { stdio: 'ignore' });
    const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await waitFor('redis-server listening', async () => portOpen(port), 15_000, 100);
      await admin.connect();
      await expect(RequestBroker.start({ redisUrl: `redis://no-sub:no-sub-password@127.0.0.1:${port}`, prefix: `t-${iso.id}`, timeoutMs: 1000, maxInFlight: 10, missedHeartbeats: 3 })).rejects.toThrow(/NOPERM/);
      await new Promise((r) => setTimeout(r, 500));
      const clients = String(await admin.client('LIST')).split('\n').filter((l) => / user=no-sub /.test(l));
      expect(clients).toEqual([]);
    } finally {
      admin.disconnect();
      child.kill('SIGKILL');
    }
  });
});
