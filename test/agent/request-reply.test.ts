import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application } from '../../controller/app';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { redisConnectionOptions } from '../../billing/jobs/connection';
import { channels } from '../../agent/protocol';
import { isolation } from '../support/isolation';
import { AGENT_NODE_FLAGS } from '../../agent/bench';
import { REPO } from '../support/paths';
import { redisUrl } from '../support/services';
import { ADMIN, controller, INGEST, P1, P1_INGEST, READ, SECRET, waitFor } from './helpers';

/**
 * A real agent process (`metering agent run`) on this machine, registered with a real controller,
 * request/reply through the real Redis; the agent is killed (504 naming the host) and restarted
 * (its raw polls from before the kill are still answered).
 */
const iso = isolation(import.meta.url);
const HOST = `rr-${iso.id}`.replace(/_/g, '-');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agent-rr-'));
let app: Application;
let agent: ChildProcess | undefined;
let agentLog = '';

// the agent as a host runs it: its own entry (bin/metering-agent.mjs, the bundle whose chunks load
// ioredis and the responder only when --controller is given), with the node flags the benchmark uses
function startAgent(): ChildProcess {
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, path.join(REPO, 'bin/metering-agent.mjs'), 'run', '--interval', '1', '--window', '2', '--host', HOST, '--data-dir', dataDir, '--controller', app.url!, '--token', INGEST, '--publish', `${app.url}/v1/samples`], {
    cwd: REPO,
    env: { ...process.env, METERING_TELEMETRY_SECRET: SECRET, METERING_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => (agentLog += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (agentLog += b.toString()));
  return child;
}

const get = (url: string, token = READ) => app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const alive = async () => {
  const res = await get('/v1/agents');
  return (res.json().agents as Array<{ host: string; alive: boolean }>).some((a) => a.host === HOST && a.alive);
};
const raw = (rid: string, meter: string, token = READ, from = new Date(Date.now() - 600_000).toISOString()) => get(`/v1/resources/${encodeURIComponent(rid)}/raw?meter=${meter}&from=${from}&to=${new Date(Date.now() + 1000).toISOString()}`, token);

beforeAll(async () => {
  app = await controller(iso.dbName(), `t-${iso.id}`);
  agent = startAgent();
  await waitFor(`agent ${HOST} registered (log: ${agentLog})`, alive, 90_000);
}, 120_000);

afterAll(async () => {
  agent?.kill('SIGKILL');
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('agent → controller', () => {
  it('window samples arrive in the store signed, one per metric per window, with the window statistics and the host facts', async () => {
    const meter = app.services.db.collection(COLLECTIONS.meter);
    const doc = (await waitFor('a window sample of hardware.memory.total', () => meter.findOne({ resource_id: HOST, counter_name: 'hardware.memory.total' }), 30_000))!;
    expect(doc.resource_metadata).toMatchObject({ host: HOST, architecture: os.machine(), cpu_cores: os.cpus().length });
    expect(typeof doc.resource_metadata.cpu_model).toBe('string');
    const w = doc.resource_metadata.window;
    expect(Object.keys(w).sort()).toEqual(['avg', 'count', 'end', 'last', 'max', 'min', 'start']);
    expect(Date.parse(w.end) - Date.parse(w.start)).toBe(2000);
    expect(w.count).toBeGreaterThanOrEqual(1);
    expect(w.count).toBeLessThanOrEqual(2);
    expect(doc.counter_volume).toBe(w.avg);
    expect(doc.message_signature).toMatch(/^[0-9a-f]{64}$/);
    // one sample per metric per window
    const dup = await meter.aggregate([{ $match: { resource_id: HOST } }, { $group: { _id: { m: '$counter_name', t: '$timestamp' }, n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }]).toArray();
    expect(dup).toEqual([]);
  });
});

describe('request/reply by resource id through Redis', () => {
  it("answers a resource's raw points from the agent that holds them, naming the host", async () => {
    const res = await raw(HOST, 'hardware.memory.used');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ resource_id: HOST, meter: 'hardware.memory.used', host: HOST });
    expect(body.points.length).toBeGreaterThan(1);
    expect(body.points.length).toBe(body.total);
    for (const p of body.points) expect(p.v).toBeGreaterThan(0);
    const ts = body.points.map((p: { t: string }) => Date.parse(p.t));
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    // the widest range a date allows: answered from what the store holds (bounded by its retention and max_points)
    const wide = await get(`/v1/resources/${HOST}/raw?meter=hardware.memory.used&from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z`);
    expect(wide.statusCode, wide.body).toBe(200);
    expect(wide.json().total).toBeGreaterThanOrEqual(body.total);
    expect(wide.json().points.length).toBe(Math.min(wide.json().total, 10_000));
    // a network interface of this machine, by its own resource id
    const nic = await raw(`${HOST}.lo`, 'hardware.network.incoming.bytes');
    expect(nic.statusCode, nic.body).toBe(200);
  });

  it('404 for an unknown resource or a meter the resource does not have; 400 for a bad range; roles and project scope apply', async () => {
    expect((await raw('no-such-resource', 'cpu_util')).statusCode).toBe(404);
    const noMeter = await raw(HOST, 'disk.device.read.bytes');
    expect(noMeter.statusCode).toBe(404);
    expect(noMeter.json().message).toContain('has no meter disk.device.read.bytes');
    expect((await get(`/v1/resources/${HOST}/raw?meter=hardware.cpu.util&from=yesterday`)).statusCode).toBe(400);
    expect((await get(`/v1/resources/${HOST}/raw`)).statusCode).toBe(400);
    expect((await get(`/v1/resources/${HOST}/raw?meter=hardware.cpu.util&from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z`)).statusCode).toBe(400);
    // only ISO 8601: JavaScript's lenient Date.parse would read "1" as 2001-01-01 and "Dec 3 2026" as local time
    for (const from of ['1', 'Dec%203%202026', '2026-13-45T00:00:00Z']) {
      const bad = await get(`/v1/resources/${HOST}/raw?meter=hardware.cpu.util&from=${from}`);
      expect(bad.statusCode, from).toBe(400);
      expect(bad.json().message).toContain('from');
    }
    // a date-time without an offset is UTC, whatever the controller's time zone
    const utc = await get(`/v1/resources/${HOST}/raw?meter=hardware.memory.used&from=2026-01-01T00:00:00&to=2026-01-01T01:00:00`);
    expect(utc.json()).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T01:00:00.000Z' });
    // the host's own resources have no project: a project-scoped token does not see them
    expect((await raw(HOST, 'hardware.memory.used', P1)).statusCode).toBe(404);
    expect((await raw(HOST, 'hardware.memory.used', INGEST)).statusCode).toBe(403);
    expect((await app.app.inject({ method: 'GET', url: `/v1/resources/${HOST}/raw?meter=hardware.memory.used` })).statusCode).toBe(401);
    expect((await get(`/v1/hosts/series?hosts=${HOST}&meter=hardware.cpu.util`, P1)).statusCode).toBe(403);
    const reg = await app.app.inject({ method: 'POST', url: '/v1/agents/register', headers: { authorization: `Bearer ${READ}` }, payload: { host: 'x', instance: 'i', interval_s: 1, resources: [] } });
    expect(reg.statusCode).toBe(403);
    // a tenant's (project-scoped) ingest token registers no agent: the answer would hand it the request
    // queue (its URL and password), from which it could answer other hosts' requests; nor may it take
    // over a registered host's name
    for (const resources of [[{ id: 'vm-of-p1', project_id: 'p1', meters: ['cpu_util'] }], []]) {
      const scoped = await app.app.inject({ method: 'POST', url: '/v1/agents/register', headers: { authorization: `Bearer ${P1_INGEST}` }, payload: { host: HOST, instance: 'i', interval_s: 1, resources } });
      expect(scoped.statusCode, scoped.body).toBe(403);
      expect(scoped.body).not.toContain('redis');
      expect(scoped.json().message).toMatch(/scoped to project p1/);
    }
    expect((await raw(HOST, 'hardware.memory.used')).statusCode).toBe(200); // the real agent still holds its host
  });

  it("GET /v1/hosts/series fans out to each host and lists the ones that cannot answer", async () => {
    const res = await get(`/v1/hosts/series?hosts=${HOST},no-such-host&meter=hardware.cpu.util&from=${new Date(Date.now() - 600_000).toISOString()}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.meter).toBe('hardware.cpu.util');
    expect(body.hosts[0]).toMatchObject({ host: HOST, status: 'ok', resource_id: HOST });
    expect(body.hosts[0].points.length).toBeGreaterThan(0);
    for (const p of body.hosts[0].points) expect(p.v).toBeLessThanOrEqual(100);
    expect(body.hosts[1]).toMatchObject({ host: 'no-such-host', status: 'unknown_host', points: [] });
    const tooMany = await get(`/v1/hosts/series?hosts=${Array.from({ length: 101 }, (_, i) => `h${i}`).join(',')}&meter=hardware.cpu.util`);
    expect(tooMany.statusCode).toBe(400);
  });

  it('`metering agent top --once` shows each host with its statistics and a sparkline', async () => {
    // asynchronously: the controller answering the command runs in this process
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(REPO, 'bin/metering.mjs'), 'agent', 'top', '--controller', app.url!, '--token', READ, '--hosts', `${HOST},no-such-host`, '--meter', 'hardware.memory.used', '--span', '600', '--once'], { cwd: REPO, timeout: 90_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toContain('hardware.memory.used');
    expect(lines.find((l) => l.startsWith(HOST))).toMatch(/\bok\s+\d+\s+[\d.]+.*[▁▂▃▄▅▆▇█]+$/);
    expect(lines.find((l) => l.startsWith('no-such-host'))).toMatch(/unknown_host .*no registered agent on host no-such-host/);
  }, 100_000);

  it("a project-scoped token sees its project's instances on a host and nothing of other projects", async () => {
    const sub = new Redis(redisConnectionOptions(redisUrl()));
    const pub = new Redis(redisConnectionOptions(redisUrl()));
    const ch = channels(`t-${iso.id}`);
    const host = `compute-${iso.id}`;
    try {
      // a compute host's agent holding two instances of two projects, answering from fixed points
      sub.on('message', (_c: string, text: string) => {
        const r = JSON.parse(text);
        void pub.publish(r.reply_to, JSON.stringify({ id: r.id, host, ok: true, points: [[r.from, 1], [r.from + 1000, 2]], total: 2 }));
      });
      await sub.subscribe(ch.request(host));
      await pub.publish(ch.heartbeat, JSON.stringify({ kind: 'heartbeat', host, instance: 'x', interval_s: 30, resources: [{ id: 'vm-of-p1', project_id: 'p1', meters: ['cpu_util'] }, { id: 'vm-of-p2', project_id: 'p2', meters: ['cpu_util'] }] }));
      await waitFor('compute host registered', async () => (await get('/v1/agents')).json().agents.some((a: { host: string }) => a.host === host), 10_000, 50);
      const mine = await raw('vm-of-p1', 'cpu_util', P1);
      expect(mine.statusCode, mine.body).toBe(200);
      expect(mine.json()).toMatchObject({ resource_id: 'vm-of-p1', host, total: 2 });
      expect(mine.json().points.map((p: { v: number }) => p.v)).toEqual([1, 2]);
      expect((await raw('vm-of-p2', 'cpu_util', P1)).statusCode).toBe(404);
      expect((await raw('vm-of-p2', 'cpu_util', READ)).statusCode).toBe(200);
      const listed = (await get('/v1/agents', P1)).json().agents;
      expect(listed.map((a: { host: string }) => a.host)).toEqual([host]);
      expect(listed[0].resources.map((r: { resource_id: string }) => r.resource_id)).toEqual(['vm-of-p1']);
      expect(listed[0].facts).toBeUndefined();
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
  });

  it('malformed requests on its request channel are ignored: the agent keeps answering', async () => {
    const pub = new Redis(redisConnectionOptions(redisUrl()));
    try {
      const ch = channels(`t-${iso.id}`).request(HOST);
      const valid = { id: 'x-1', reply_to: `t-${iso.id}:reply:nobody`, op: 'raw', resource_id: HOST, meter: 'hardware.memory.used', from: 0, to: 1, max_points: 10 };
      for (const bad of ['not json', 'null', '[]', '{"id":1}', JSON.stringify({ ...valid, op: 'delete' }), JSON.stringify({ ...valid, resource_id: { $gt: '' } }), JSON.stringify({ ...valid, from: 'yesterday' }), JSON.stringify({ ...valid, max_points: -1 }), JSON.stringify({ ...valid, meter: 'x'.repeat(1_000_000) })]) {
        expect(await pub.publish(ch, bad)).toBe(1); // the agent received it
      }
      const res = await raw(HOST, 'hardware.memory.used');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().points.length).toBeGreaterThan(0);
    } finally {
      pub.disconnect();
    }
  });

  it('an agent that hangs (subscribed, never answers) gives 504 naming its host after the timeout', async () => {
    const hung = new Redis(redisConnectionOptions(redisUrl()));
    const pub = new Redis(redisConnectionOptions(redisUrl()));
    try {
      const host = `hung-${iso.id}`;
      await hung.subscribe(channels(`t-${iso.id}`).request(host));
      await pub.publish(channels(`t-${iso.id}`).heartbeat, JSON.stringify({ kind: 'heartbeat', host, instance: 'x', interval_s: 30, resources: [{ id: `${host}-r`, project_id: null, meters: ['cpu_util'] }] }));
      await waitFor('hung host registered', async () => (await get('/v1/agents')).json().agents.some((a: { host: string }) => a.host === host), 10_000, 50);
      const t0 = Date.now();
      const res = await raw(`${host}-r`, 'cpu_util');
      expect(res.statusCode).toBe(504);
      expect(res.json()).toMatchObject({ host });
      expect(res.json().message).toContain(`host ${host} did not answer within 1500 ms`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    } finally {
      hung.disconnect();
      pub.disconnect();
    }
  });

  it('a killed agent gives 504 naming its host; restarted, it answers again, including the polls it kept from before the kill', async () => {
    const before = (await raw(HOST, 'hardware.memory.used')).json().points as Array<{ t: string }>;
    agent!.kill('SIGKILL');
    await new Promise((r) => agent!.once('exit', r));
    const dead = await raw(HOST, 'hardware.memory.used');
    expect(dead.statusCode).toBe(504);
    expect(dead.json().host).toBe(HOST);
    expect(dead.json().message).toContain(HOST);
    const series = await get(`/v1/hosts/series?hosts=${HOST}&meter=hardware.cpu.util`);
    expect(series.json().hosts[0]).toMatchObject({ host: HOST, status: 'timeout' });

    agent = startAgent();
    const res = await waitFor(`restarted agent answers (log: ${agentLog})`, async () => {
      const r = await raw(HOST, 'hardware.memory.used');
      return r.statusCode === 200 && r.json().points.length > before.length ? r : undefined;
    }, 90_000, 500);
    const after = res.json().points.map((p: { t: string }) => p.t);
    for (const p of before) expect(after).toContain(p.t);
  }, 120_000);
});
