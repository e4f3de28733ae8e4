import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from '../../agent/bench';
import { ALERTS_COLLECTION } from '../../compliance/alerts';
import { isolation } from '../support/isolation';
import { freePort, spawnController, until } from '../support/processes';
import { REPO } from '../support/paths';
import { mongoTier } from '../support/services';
import { connect } from '../pipeline/ingest/helpers';

/**
 * Three controller PROCESSES (`metering serve`) with `cluster.enabled`: licence compliance and the
 * host agents' registry must answer as one.
 * - Three oracle-db instances of 4 vCPUs against a licence of 8 cores, each instance's samples sent
 *   to a different controller (each controller alone sees 4 ≤ 8 cores): exactly one `cores-exceeded`
 *   alert in the store and one webhook delivery, the same alert list and the same `/v1/compliance` on
 *   every controller. kill -9 of the `compliance` lease holder → another evaluates within the lease
 *   bound (token + 1), the open alert is not raised again, and a new violation is raised once.
 * - An agent registration sent to one controller is listed at once by the others (published on the
 *   heartbeat channel), and a real agent process registered through one controller answers raw-data
 *   requests made through every controller (the reply comes back on the asking controller's channel).
 */

const iso = isolation(import.meta.url);
const ADMIN = 'compliance-cluster-admin';
const INGEST = 'compliance-cluster-ingest';
const LEASE = { leaseTtlMs: 1500, renewIntervalMs: 300, guardMs: 200 };
const BOUND_MS = LEASE.leaseTtlMs + 2 * LEASE.renewIntervalMs;
const SLACK_MS = 4000; // process scheduling on a shared 2-core machine
const IDS = ['c1', 'c2', 'c3'] as const;
const HOST = `cc-${iso.id}`.replace(/_/g, '-');
const PREFIX = `cc-${iso.id}`;
const dir = mkdtempSync(path.join(tmpdir(), 'compliance-cluster-'));
const ports = new Map<string, number>();
const children = new Map<string, ChildProcess>();
let agent: ChildProcess | undefined;
let client: MongoClient;
let db: Db;
let hook: Server;
const delivered: Array<{ event: string; alert: { key: string; kind: string } }> = [];

function start(id: string): void {
  const port = ports.get(id)!;
  const file = path.join(dir, `${id}.yaml`);
  writeFileSync(
    file,
    [
      'controller:',
      `  port: ${port}`,
      `  auth: {tokens: [{name: ops, token: ${ADMIN}, roles: [admin]}, {name: agent, token: ${INGEST}, roles: [ingest]}]}`,
      'store:',
      `  database: ${iso.dbName()}`,
      `  writeConcern: ${mongoTier() === 'real' ? 'majority' : 1}`,
      'ingest: {shutdownGraceMs: 1000}',
      `redis: {prefix: ${iso.queuePrefix()}}`,
      'mediation: {lateDataCheckSeconds: 0}',
      'console: {enabled: false}',
      `compliance: {licenses_file: ${path.join(dir, 'licenses.yaml')}, cluster_evaluate_interval_ms: 1000, webhook: {url: "http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook", backoff_ms: 50}}`,
      `agent: {controller: {channel_prefix: ${PREFIX}, request_timeout_ms: 3000}}`,
      `cluster: {enabled: true, id: ${id}, advertiseUrl: "http://127.0.0.1:${port}", leaseTtlMs: ${LEASE.leaseTtlMs}, renewIntervalMs: ${LEASE.renewIntervalMs}, guardMs: ${LEASE.guardMs}, heartbeatIntervalMs: 300, memberTtlMs: 1500}`,
      '',
    ].join('\n'),
  );
  children.set(id, spawnController(file, { env: { METERING_LOG_LEVEL: 'warn' } }));
}

const url = (id: string, p: string) => `http://127.0.0.1:${ports.get(id)}${p}`;
async function get(id: string, p: string): Promise<Response> {
  return fetch(url(id, p), { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(5000) });
}
async function json(id: string, p: string): Promise<any> {
  const r = await get(id, p);
  expect(r.status, `${id} ${p}`).toBe(200);
  return r.json();
}

/** An instance sample as Ceilometer's http:// publisher sends it, `ageS` seconds old. */
function instance(id: string, project: string, vcpus: number, ageS: number) {
  return {
    name: 'cpu_util', type: 'gauge', unit: '%', volume: 10, user_id: 'u', user_name: null, project_id: project, project_name: null, resource_id: id,
    timestamp: new Date(Date.now() - ageS * 1000).toISOString(), source: 'openstack', id: `${id}-${ageS}-${Math.random()}`, monotonic_time: null,
    resource_metadata: { display_name: id, instance_id: id, vcpus, instance_host: 'hv-1', user_metadata: { product: 'oracle-db' } },
  };
}
async function send(id: string, samples: object[]): Promise<void> {
  const r = await fetch(url(id, '/v1/samples'), { method: 'POST', headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/json' }, body: JSON.stringify(samples) });
  expect(r.status, await r.clone().text()).toBe(200);
}

/** Which controller each controller's /metrics says leads `compliance` (only those that claim it). */
async function complianceLeaders(ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) if (/^metering_cluster_leader\{role="compliance"\} 1$/m.test(await (await get(id, '/metrics')).text())) out.push(id);
  return out;
}

/** /v1/compliance of every controller, once they all answer the same evaluation. */
async function sameEverywhere(ids: readonly string[], p: string): Promise<any> {
  return until(`${p} equal on ${ids.join(', ')}`, async () => {
    const bodies = await Promise.all(ids.map((id) => json(id, p)));
    const texts = bodies.map((b) => JSON.stringify(b));
    return texts.every((t) => t === texts[0]) && bodies[0];
  }, 15_000, 150);
}

const openAlerts = () => db.collection(ALERTS_COLLECTION).find({ state: 'open' }).sort({ key: 1 }).toArray();

beforeAll(async () => {
  client = await connect();
  db = client.db(iso.dbName());
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      delivered.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  writeFileSync(
    path.join(dir, 'licenses.yaml'),
    'licenses:\n  - {id: ora-fin, product: oracle-db, match: {project_id: p-fin}, cores: 8}\n  - {id: ora-hr, product: oracle-db, match: {project_id: p-hr}, cores: 2}\n',
  );
  for (const id of IDS) ports.set(id, await freePort());
  for (const id of IDS) start(id);
  for (const id of IDS) await until(`${id} ready`, async () => (await fetch(url(id, '/readyz'))).ok, 90_000, 250);
}, 120_000);

afterAll(async () => {
  agent?.kill('SIGKILL');
  for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await new Promise<void>((r) => hook?.close(() => r()));
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('licence compliance across three controller processes', () => {
  it('a licence exceeded by instances stored through different controllers raises one alert, seen alike by every controller; kill -9 of the evaluator raises nothing twice', async () => {
    const leaders = await until('one compliance leader', async () => {
      const l = await complianceLeaders(IDS);
      return l.length === 1 && l;
    }, 15_000);
    // one 4-vCPU instance through each controller: 12 cores of an 8-core licence, 4 on any one controller
    for (const [i, id] of IDS.entries()) await send(id, [instance(`fin-${i}`, 'p-fin', 4, 30), instance(`fin-${i}`, 'p-fin', 4, 20)]);

    const first = await until('the cores-exceeded alert', async () => {
      const open = await openAlerts();
      return open.length > 0 && open;
    }, 15_000);
    // two more evaluations at least, then still one alert: evaluated for the cluster, raised once
    const evaluations = (await sameEverywhere(IDS, '/v1/compliance')).stats.evaluations as number;
    await until('two more evaluations', async () => (await json(IDS[0], '/v1/compliance')).stats.evaluations >= evaluations + 2, 15_000);
    const open = await openAlerts();
    expect(open.map((a) => [a.kind, a.license_id, a.actual, a.assigned])).toEqual([['cores-exceeded', 'ora-fin', 12, 8]]);
    expect(open[0]!._id).toBe(first[0]!._id);

    const live = await sameEverywhere(IDS, '/v1/compliance');
    expect(live.evaluated).toBe(true);
    expect(live.open_alerts).toBe(1);
    expect(live.stats.evaluated_by).toBe(leaders[0]);
    expect(live.violations.map((v: { kind: string; license_id: string }) => [v.kind, v.license_id])).toEqual([['cores-exceeded', 'ora-fin']]);
    expect(live.instances.map((i: { resource_id: string }) => i.resource_id).sort()).toEqual(['fin-0', 'fin-1', 'fin-2']);
    const listed = await sameEverywhere(IDS, '/v1/compliance/alerts?state=open');
    expect(listed.open).toBe(1);
    expect(listed.alerts.map((a: { id: string }) => a.id)).toEqual([first[0]!._id]);
    await until('the webhook delivery', async () => delivered.length >= 1, 10_000);

    // kill -9 of the evaluator: another takes the role within the bound and goes on from the store
    const dead = leaders[0]!;
    const token = live.stats.fencing_token as number;
    const rest = IDS.filter((id) => id !== dead);
    const killedAt = Date.now();
    children.get(dead)!.kill('SIGKILL');
    const next = await until('a new compliance evaluator', async () => {
      const v = await json(rest[0]!, '/v1/compliance');
      return v.stats.evaluated_by !== dead && v.stats.fencing_token > token && v;
    }, BOUND_MS + 1000 + SLACK_MS, 50);
    const handover = Date.now() - killedAt;
    if (process.env.CLUSTER_PRINT) console.log(`compliance evaluator hand-over after kill -9: ${handover} ms (bound ${BOUND_MS} ms + one evaluation interval 1000 ms)`);
    expect(rest).toContain(next.stats.evaluated_by);
    expect(next.stats.fencing_token).toBe(token + 1);

    // the open alert is not raised again by the new evaluator; a new violation is raised once
    await send(rest[0]!, [instance('hr-0', 'p-hr', 2, 10)]);
    await send(rest[1]!, [instance('hr-1', 'p-hr', 2, 10)]);
    await until('the ora-hr alert', async () => (await openAlerts()).length === 2, 15_000);
    const n = (await json(rest[0]!, '/v1/compliance')).stats.evaluations as number;
    await until('two more evaluations', async () => (await json(rest[1]!, '/v1/compliance')).stats.evaluations >= n + 2, 15_000);
    const after = await openAlerts();
    expect(after.map((a) => [a.license_id, a.kind, a.actual])).toEqual([
      ['ora-fin', 'cores-exceeded', 12],
      ['ora-hr', 'cores-exceeded', 4],
    ]);
    expect(after[0]!._id).toBe(first[0]!._id);
    expect(await db.collection(ALERTS_COLLECTION).countDocuments({})).toBe(2);
    const end = await sameEverywhere(rest, '/v1/compliance');
    expect(end.open_alerts).toBe(2);
    await until('both webhook deliveries', async () => delivered.length >= 2, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(delivered.map((d) => [d.event, d.alert.kind, d.alert.key]).sort()).toEqual(after.map((a) => ['opened', 'cores-exceeded', a.key]).sort());
  }, 120_000);
});

describe('agent registry across controllers', () => {
  it('a registration sent to one controller is listed by every controller at once', async () => {
    const alive = IDS.filter((id) => children.get(id)!.exitCode === null && children.get(id)!.signalCode === null);
    const r = await fetch(url(alive[0]!, '/v1/agents/register'), {
      method: 'POST',
      headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/json' },
      // no agent behind it heartbeats through Redis: only the registration's publication reaches the others
      body: JSON.stringify({ host: `${HOST}-http`, instance: 'i-1', interval_s: 600, resources: [{ id: `${HOST}-vm`, project_id: 'p-fin', meters: ['cpu_util'] }] }),
    });
    expect(r.status).toBe(200);
    for (const id of alive) {
      const listed = await until(`${id} lists the registration`, async () => ((await json(id, '/v1/agents')).agents as Array<{ host: string }>).find((a) => a.host === `${HOST}-http`), 2000, 50);
      expect(listed).toMatchObject({ alive: true, resources: [{ resource_id: `${HOST}-vm`, project_id: 'p-fin' }] });
    }
  });

  it('a real agent registered through one controller is answered for by every controller (request/reply routed to the asker)', async () => {
    const alive = IDS.filter((id) => children.get(id)!.exitCode === null && children.get(id)!.signalCode === null);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'compliance-cluster-agent-'));
    try {
      agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, path.join(REPO, 'bin/metering-agent.mjs'), 'run', '--interval', '1', '--window', '2', '--host', HOST, '--data-dir', dataDir, '--controller', url(alive[0]!, ''), '--token', INGEST], {
        cwd: REPO,
        env: { ...process.env, METERING_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      const raw = (id: string) => get(id, `/v1/resources/${HOST}/raw?meter=hardware.memory.used&from=${new Date(Date.now() - 600_000).toISOString()}&to=${new Date(Date.now() + 1000).toISOString()}`);
      for (const id of alive) await until(`${id} lists the agent alive`, async () => ((await json(id, '/v1/agents')).agents as Array<{ host: string; alive: boolean }>).some((a) => a.host === HOST && a.alive), 60_000, 250);
      await until('raw points on the agent', async () => {
        const r = await raw(alive[0]!);
        return r.status === 200 && ((await r.json()) as { points: unknown[] }).points.length > 1;
      }, 20_000, 250);
      // asked concurrently through every controller: each reply reaches the controller that asked
      const answers = await Promise.all(alive.flatMap((id) => [raw(id), raw(id)]));
      for (const a of answers) {
        expect(a.status).toBe(200);
        const body = (await a.json()) as { host: string; resource_id: string; points: unknown[] };
        expect(body).toMatchObject({ host: HOST, resource_id: HOST });
        expect(body.points.length).toBeGreaterThan(0);
      }
    } finally {
      agent?.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 100_000);
});
