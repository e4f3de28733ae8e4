import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { complianceModule, type ComplianceModule } from '../../compliance/module';
import { evaluateSamples } from '../../compliance/offline';
import { checkOutput } from '../../compliance/rules';
import { LICENSES_COLLECTION } from '../../compliance/repository';
import type { Sample } from '../../pipeline/sample';
import { isolation } from '../support/isolation';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { at, host, vm } from './helpers';

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-compliance';
const READ = 'read-token-compliance';
const FIN = 'read-token-scoped-p-fin';
const dir = mkdtempSync(path.join(tmpdir(), 'compliance-module-'));
const licensesFile = path.join(dir, 'licenses.yaml');
writeFileSync(
  licensesFile,
  `licenses:
  - id: ora-fin
    product: oracle-db
    match: {project_id: p-fin}
    cores: 16
    cores_per_instance: 8
    architecture: x86_64
    cpu_models: ["Intel(R) Xeon(R) Gold*"]
    valid_from: 2026-01-01
    valid_to: 2027-01-01
  - id: ora-hr
    product: oracle-db
    match: {project_id: p-hr}
    cores: 4
`,
);

/** A webhook receiver that refuses the first delivery (503) and accepts the rest. */
const received: Array<{ event: string; alert: { kind: string; state: string } }> = [];
let webhookCalls = 0;
let webhook: Server;

function config() {
  return meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'alice', token: ADMIN, roles: ['admin'] },
          { name: 'reader', token: READ, roles: ['read'] },
          { name: 'fin', token: FIN, roles: ['read'], project: 'p-fin' },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    compliance: {
      licenses_file: licensesFile,
      evaluate_interval_ms: 0,
      max_future_skew_s: 10 * 365 * 86_400,
      webhook: { url: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`, backoff_ms: 20, max_attempts: 4 },
    },
  });
}

let app: Application;
const mod = () => app.modules.find((m) => m.name === 'compliance') as ComplianceModule;
const req = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token = READ, payload?: object) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
const start = async () => {
  app = await startApplication({ config: config(), log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [complianceModule] });
  await mod().ready;
};

// p-fin: two oracle-db VMs on a Gold host, 8 + 12 vCPUs (20 > 16, and 12 > 8 per instance)
const first: Sample[] = [
  host('cmp-1', -600, { cpu_model: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', architecture: 'x86_64', cpu_cores: 40 }),
  vm('fin-1', -60, { product: 'oracle-db', vcpus: 8, host: 'cmp-1', project: 'p-fin' }),
  vm('fin-2', 0, { product: 'oracle-db', vcpus: 12, host: 'cmp-1', project: 'p-fin' }),
  vm('hr-1', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-1', project: 'p-hr' }),
];
// fin-2 is resized down to 8: both violations end
const resized: Sample[] = [vm('fin-2', 300, { product: 'oracle-db', vcpus: 8, host: 'cmp-1', project: 'p-fin' }), vm('fin-1', 300, { product: 'oracle-db', vcpus: 8, host: 'cmp-1', project: 'p-fin' })];

beforeAll(async () => {
  webhook = createServer((r: IncomingMessage, res) => {
    let body = '';
    r.on('data', (c) => (body += c));
    r.on('end', () => {
      if (webhookCalls++ === 0) {
        res.statusCode = 503;
        return res.end('busy');
      }
      received.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  await start();
});

afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  await new Promise((resolve) => webhook.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('licence records: immutable, versioned, with who and when', () => {
  it('the licence file is recorded at start, in file order, by file:<path>', async () => {
    const res = await req('GET', '/v1/licenses');
    expect(res.statusCode).toBe(200);
    const list = res.json().licenses;
    expect(list.map((r: { id: string; version: number; created_by: string }) => [r.id, r.version, r.created_by])).toEqual([
      ['ora-fin', 1, `file:${licensesFile}`],
      ['ora-hr', 1, `file:${licensesFile}`],
    ]);
    expect(list[0].license).toMatchObject({ cores: 16, cpu_models: ['Intel(R) Xeon(R) Gold*'], valid_from: '2026-01-01' });
  });

  it('POST records a new version with who and when; the same licence again records nothing; there is no update or delete route', async () => {
    const body = { id: 'ora-hr', product: 'oracle-db', match: { project_id: 'p-hr' }, cores: 6 };
    const before = Date.now();
    const v2 = await req('POST', '/v1/licenses', ADMIN, body);
    expect(v2.statusCode).toBe(201);
    expect(v2.json()).toMatchObject({ created: true, record: { id: 'ora-hr', version: 2, created_by: 'alice', license: { cores: 6 } } });
    expect(Date.parse(v2.json().record.created_at)).toBeGreaterThanOrEqual(before - 1000);
    const again = await req('POST', '/v1/licenses', ADMIN, body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, record: { version: 2 } });

    const versions = await req('GET', '/v1/licenses/ora-hr/versions');
    expect(versions.json().versions.map((r: { version: number; license: { cores: number } }) => [r.version, r.license.cores])).toEqual([[1, 4], [2, 6]]);
    expect(versions.json().chain).toEqual({ ok: true, problems: [] });
    expect((await req('GET', '/v1/licenses/ora-hr')).json()).toMatchObject({ version: 2, license: { cores: 6 } });
    expect((await req('GET', '/v1/licenses/nope')).statusCode).toBe(404);

    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      expect((await req(method, '/v1/licenses/ora-hr', ADMIN, method === 'DELETE' ? undefined : body)).statusCode).toBe(404);
    }
    expect((await req('POST', '/v1/licenses', READ, body)).statusCode).toBe(403);
    const bad = await req('POST', '/v1/licenses', ADMIN, { id: 'x', product: 'oracle-db', cores: 'many', typo: 1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/cores/);
    expect(bad.json().message).toMatch(/typo/);
  });

  it('the store holds the guarantee too: a version cannot be written twice, and a record changed behind the product is detected', async () => {
    const coll = app.services.db.collection(LICENSES_COLLECTION);
    const v1 = await coll.findOne({ id: 'ora-hr', version: 1 });
    await expect(coll.insertOne({ ...v1!, _id: 'forged' as never, license: { ...v1!.license, cores: 1000 } })).rejects.toMatchObject({ code: 11000 });
    await coll.updateOne({ id: 'ora-hr', version: 1 }, { $set: { 'license.cores': 1000 } });
    const chain = (await req('GET', '/v1/licenses/ora-hr/versions')).json().chain;
    expect(chain.ok).toBe(false);
    expect(chain.problems.join('\n')).toMatch(/ora-hr v1: the licence does not match its hash/);
    await coll.updateOne({ id: 'ora-hr', version: 1 }, { $set: { 'license.cores': 4 } });
    expect((await req('GET', '/v1/licenses/ora-hr/versions')).json().chain.ok).toBe(true);
  });

  it('concurrent POSTs of one licence each get their own version: contiguous, chained, none lost', async () => {
    const posts = await Promise.all([10, 11, 12, 13, 14].map((cores) => req('POST', '/v1/licenses', ADMIN, { id: 'race', product: 'mysql', cores })));
    expect(posts.map((p) => p.statusCode)).toEqual([201, 201, 201, 201, 201]);
    const versions = (await req('GET', '/v1/licenses/race/versions')).json();
    expect(versions.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 3, 4, 5]);
    expect(versions.versions.map((v: { license: { cores: number } }) => v.license.cores).sort()).toEqual([10, 11, 12, 13, 14]);
    expect(versions.chain.ok).toBe(true);
    const spec = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/v1/licenses', '/v1/licenses/{id}', '/v1/licenses/{id}/versions', '/v1/compliance', '/v1/compliance/alerts', '/v1/compliance/report']));
  });

  it('a project-scoped reader sees only the licences of its project', async () => {
    const list = (await req('GET', '/v1/licenses', FIN)).json().licenses;
    expect(list.map((r: { id: string }) => r.id)).toEqual(['ora-fin']);
    expect((await req('GET', '/v1/licenses/ora-hr', FIN)).statusCode).toBe(404);
  });
});

describe('live rules on the sample stream', () => {
  it('alerts on first sight of each violation: stored, at /v1/compliance/alerts, counted at /metrics, sent to the webhook after a retry', async () => {
    const r = await app.ingestion.ingestor.submit(first);
    expect(r.stored).toBe(first.length);
    await mod().flush();
    const alerts = (await req('GET', '/v1/compliance/alerts')).json();
    expect(alerts.open).toBe(2);
    expect(alerts.alerts.map((a: { kind: string; state: string; license_id: string; resource_id: string | null }) => [a.kind, a.state, a.license_id, a.resource_id]).sort()).toEqual([
      ['cores-exceeded', 'open', 'ora-fin', null],
      ['instance-cores-exceeded', 'open', 'ora-fin', 'fin-2'],
    ]);
    const ice = alerts.alerts.find((a: { kind: string }) => a.kind === 'instance-cores-exceeded');
    expect(ice).toMatchObject({ assigned: 8, actual: 12, opened_at: at(0).toISOString(), samples: [{ id: first[2]!.message_id, timestamp: at(0).toISOString() }] });
    expect(received.map((e) => `${e.event}:${e.alert.kind}`).sort()).toEqual(['opened:cores-exceeded', 'opened:instance-cores-exceeded']);
    expect(webhookCalls).toBe(3); // one refused, retried
    const metrics = (await req('GET', '/metrics')).body;
    expect(metrics).toMatch(/metering_compliance_alerts_total\{event="opened",kind="cores-exceeded"\} 1/);
    expect(metrics).toMatch(/metering_compliance_webhook_retries_total 1/);
    expect(metrics).toMatch(/metering_compliance_alerts_open 2/);
  });

  it('runs the same rules as the offline check', async () => {
    const live = mod().monitor.lastEvaluation!;
    const records = (await req('GET', '/v1/licenses')).json().licenses.map((r: { license: unknown }) => r.license);
    expect(checkOutput(live)).toEqual(checkOutput(evaluateSamples(records, first)));
    const status = (await req('GET', '/v1/compliance')).json();
    expect(status).toMatchObject({ evaluated: true, at: at(0).toISOString(), open_alerts: 2 });
  });

  it('a scoped reader sees only alerts and findings of its own project', async () => {
    await app.ingestion.ingestor.submit([vm('hr-2', 0, { product: 'oracle-db', vcpus: 8, project: 'p-hr' })]);
    await mod().flush();
    const all = (await req('GET', '/v1/compliance/alerts')).json();
    expect(all.alerts.some((a: { license_id: string }) => a.license_id === 'ora-hr')).toBe(true);
    const fin = (await req('GET', '/v1/compliance/alerts', FIN)).json();
    expect(fin.alerts.length).toBeGreaterThan(0);
    expect(fin.alerts.every((a: { project_id: string }) => a.project_id === 'p-fin')).toBe(true);
    expect((await req('GET', '/v1/compliance/alerts?project_id=p-hr', FIN)).statusCode).toBe(403);
    const status = (await req('GET', '/v1/compliance', FIN)).json();
    expect(status.instances.map((i: { resource_id: string }) => i.resource_id)).toEqual(['fin-1', 'fin-2']);
    expect(status.licenses.map((l: { id: string }) => l.id)).toEqual(['ora-fin']);
  });

  it('resolves an alert when its violation ends (the instance was resized)', async () => {
    await app.ingestion.ingestor.submit(resized);
    await mod().flush();
    const resolved = (await req('GET', '/v1/compliance/alerts?state=resolved')).json().alerts;
    expect(resolved.map((a: { kind: string; resolved_at: string }) => [a.kind, a.resolved_at]).sort()).toEqual([
      ['cores-exceeded', at(300).toISOString()],
      ['instance-cores-exceeded', at(300).toISOString()],
    ]);
    expect(received.filter((e) => e.event === 'resolved').map((e) => e.alert.kind).sort()).toEqual(['cores-exceeded', 'instance-cores-exceeded']);
  });

  it('a restart neither forgets nor re-announces open alerts (warm start from the store)', async () => {
    const open = (await req('GET', '/v1/compliance/alerts?state=open')).json().alerts.map((a: { id: string }) => a.id).sort();
    expect(open.length).toBeGreaterThan(0);
    const deliveredBefore = received.length;
    await app.close();
    await start();
    await mod().flush();
    expect(mod().monitor.lastEvaluation?.at.toISOString()).toBe(at(300).toISOString());
    expect((await req('GET', '/v1/compliance/alerts?state=open')).json().alerts.map((a: { id: string }) => a.id).sort()).toEqual(open);
    expect(received.length).toBe(deliveredBefore);
  });
});

describe('read-only reports', () => {
  it('JSON at ?at= names the samples each finding rests on; later samples are ignored', async () => {
    const res = await req('GET', `/v1/compliance/report?at=${at(0).toISOString()}&hours=1&points=7`);
    expect(res.statusCode).toBe(200);
    const r = res.json();
    expect(r.at).toBe(at(0).toISOString());
    const kinds = r.violations.map((v: { kind: string; license_id: string }) => `${v.license_id}:${v.kind}`);
    expect(kinds).toEqual(expect.arrayContaining(['ora-fin:instance-cores-exceeded', 'ora-fin:cores-exceeded']));
    const ice = r.violations.find((v: { kind: string }) => v.kind === 'instance-cores-exceeded');
    expect(ice.samples).toEqual([{ id: first[2]!.message_id, timestamp: at(0).toISOString() }]);
    expect(r.samples.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining(first.map((s) => s.message_id)));
    expect(r.samples.every((s: { timestamp: string }) => s.timestamp <= at(0).toISOString())).toBe(true);
    expect(r.source.licenses).toBe('store');
    expect(r.source.license_versions.map((v: { id: string; version: number }) => `${v.id}#${v.version}`)).toEqual(['ora-fin#1', 'ora-hr#2', 'race#5']);
    expect(r.series.points).toHaveLength(7);
    expect(r.series.licenses[0]).toMatchObject({ id: 'ora-fin', cores: 16 });
    expect(r.series.licenses[0].cores_used.at(-1)).toBe(20);
    // at the newest sample: the resize ended both violations
    const now = (await req('GET', '/v1/compliance/report')).json();
    expect(now.at).toBe(at(300).toISOString());
    expect(now.violations.filter((v: { license_id: string }) => v.license_id === 'ora-fin')).toEqual([]);
  });

  it('CSV and HTML (with the chart); bad parameters are refused naming the parameter; scoped readers get their project only', async () => {
    const csv = await req('GET', `/v1/compliance/report?at=${at(0).toISOString()}&format=csv`);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe('finding,license_id,resource_id,assigned,actual,product,project_id,vcpus,host,host_architecture,host_cpu_model,sample_ids,sample_times,at');
    expect(lines.some((l) => l.startsWith('instance-cores-exceeded,ora-fin,fin-2,8,12,oracle-db,p-fin,12,cmp-1'))).toBe(true);
    const html = await req('GET', `/v1/compliance/report?at=${at(0).toISOString()}&format=html`);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toContain('<svg');
    expect(html.body).toContain('ora-fin licensed');
    expect(html.body).toContain(first[2]!.message_id);
    const bad = await req('GET', '/v1/compliance/report?at=yesterday');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/query\.at/);
    expect((await req('GET', '/v1/compliance/report?format=pdf')).statusCode).toBe(400);
    const fin = (await req('GET', `/v1/compliance/report?at=${at(0).toISOString()}`, FIN)).json();
    expect(fin.instances.every((i: { project_id: string }) => i.project_id === 'p-fin')).toBe(true);
    expect(fin.licenses.map((l: { id: string }) => l.id)).toEqual(['ora-fin']);
    expect(fin.series.licenses.map((l: { id: string }) => l.id)).toEqual(['ora-fin']);
  });

  it('`metering license report` reads the same report from the store (licences from the store records)', async () => {
    const cfg = path.join(dir, 'metering.yaml');
    writeFileSync(cfg, `store:\n  uri: ${JSON.stringify(testStoreConfig(iso.dbName()).uri)}\n  database: ${app.services.db.databaseName}\n`);
    let stdout = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await main(['node', 'metering', '-c', cfg, 'license', 'report', '--at', at(0).toISOString(), '--points', '3']);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    const r = JSON.parse(stdout);
    const api = (await req('GET', `/v1/compliance/report?at=${at(0).toISOString()}&points=3`)).json();
    expect(r.violations).toEqual(api.violations);
    expect(r.licenses).toEqual(api.licenses);
    expect(r.series).toEqual(api.series);
    expect(r.source.license_versions).toEqual(api.source.license_versions);
  });

  it('reports write nothing to the store', async () => {
    const db = app.services.db;
    const counts = async () => Object.fromEntries(await Promise.all((await db.listCollections().toArray()).map(async (c) => [c.name, await db.collection(c.name).countDocuments()])));
    const before = await counts();
    await req('GET', '/v1/compliance/report?format=html');
    await req('GET', '/v1/compliance/report?format=csv');
    expect(await counts()).toEqual(before);
  });
});
