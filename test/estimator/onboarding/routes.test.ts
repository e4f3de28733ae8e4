import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../../controller/app';
import { meteringConfig } from '../../../app/config';
import { estimateJson, estimateStack } from '../../../estimator/estimate';
import { generateStackSamples } from '../../../estimator/generator';
import { onboardingModule } from '../../../estimator/onboarding/module';
import { MASTER_POLLING_YAML, parsePolling } from '../../../estimator/polling';
import { profilerModule } from '../../../profiler/module';
import { scalerModule } from '../../../scaler/module';
import { isolation } from '../../support/isolation';
import { sharedPath } from '../../support/paths';
import { testIngestConfig, testStoreConfig } from '../../pipeline/ingest/helpers';

const iso = isolation(import.meta.url);
const ADMIN = 'onboarding-admin-token';
const INGEST = 'onboarding-ingest-only-token';
const READ = 'onboarding-reader-token';
const P1 = 'onboarding-tenant-p1-token';
const dir = mkdtempSync(path.join(tmpdir(), 'onboarding-'));
// An hourly polling.yaml keeps a day of samples small (24 polls per series).
const POLLING_TEXT = MASTER_POLLING_YAML.replace('interval: 300', 'interval: 3600');
const pollingFile = path.join(dir, 'polling.yaml');
writeFileSync(pollingFile, POLLING_TEXT);

const HELLO_FILE = sharedPath('corpus', 'heat-templates', 'hot', 'hello_world.yaml');
const HELLO = readFileSync(HELLO_FILE, 'utf8');
const HELLO_PARAMS = { key_name: 'k', image: 'cirros', admin_pass: 'Abc123' };

/** A stack whose server carries metering.stack (Heat's stack id) and has one attached volume. */
const TAGGED = `heat_template_version: 2018-08-31
parameters:
  size: {type: number, default: 2}
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: cirros
      flavor: m1.small
      metadata: {"metering.stack": {get_param: "OS::stack_id"}}
  data:
    type: OS::Cinder::Volume
    properties: {size: {get_param: size}}
  attach:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: {get_resource: web}, volume_id: {get_resource: data}}
`;

let app: Application;
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const post = (body: unknown, token = ADMIN) => app.app.inject({ method: 'POST', url: '/v1/onboarding/heat', payload: body as object, headers: auth(token) });
const get = (url: string, token = READ) => app.app.inject({ method: 'GET', url, headers: auth(token) });

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'admin', token: ADMIN, roles: ['admin'] },
          { name: 'heat', token: INGEST, roles: ['ingest'] },
          { name: 'planner', token: READ, roles: ['read'] },
          { name: 'tenant-p1', token: P1, roles: ['ingest', 'read'], project: 'p1' },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    estimator: { polling_file: pollingFile },
    profiler: { snapshot_path: path.join(dir, 'profiler.json'), snapshot_interval_s: 0 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [profilerModule, scalerModule, onboardingModule] });
});

afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /v1/onboarding/heat', () => {
  it('answers the same estimate as `metering estimate --json`, stores the prediction with its inputs, and hands it to the scaler', async () => {
    const res = await post({ stack_id: 'stack-hello-1', stack_name: 'hello', project_id: 'p1', template: HELLO, parameters: HELLO_PARAMS });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(res.headers.location).toBe(`/v1/predictions/${body.prediction_id}`);

    const direct = estimateJson(estimateStack({ template: { text: HELLO, file: 'template.yaml' }, params: HELLO_PARAMS, stackName: 'hello', pollingConfig: parsePolling(POLLING_TEXT, pollingFile) }));
    expect(body.estimate).toEqual(direct);
    expect(body.estimate.events.per_day).toBe(body.estimate.meters.reduce((a: number, m: { resources: number }) => a + m.resources * 24, 0));
    expect(body.estimate.meters.every((m: { size_source: string }) => m.size_source === 'prior')).toBe(true);

    // the scaler got the volume for predictive scale-out
    expect(body.recommendation.scaler).toMatchObject({ registered: true, bytes_per_day: direct.bytes.per_day });
    expect(body.recommendation.scaler.events_per_second).toBeCloseTo(direct.events.per_day / 86_400, 9);

    const stored = await get(`/v1/predictions/${body.prediction_id}`);
    expect(stored.statusCode).toBe(200);
    const p = stored.json();
    expect(p).toMatchObject({ stack_id: 'stack-hello-1', stack_name: 'hello', project_id: 'p1', created_by: 'admin', parameters: HELLO_PARAMS, files: [] });
    expect(p.template_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p.estimate).toEqual(direct);
    expect(p.size_model).toMatchObject({ method: 'per-meter', observed_meters: 0, other_meters: direct.meters.length });
    expect(Date.now() - Date.parse(p.created_at)).toBeLessThan(60_000);
  });

  it("gives a Heat hook's ingest-only token the predictor's recommendation too (it runs in process)", async () => {
    const admin = (await post({ stack_id: 'stack-rec-a', project_id: 'p1', template: HELLO, parameters: HELLO_PARAMS })).json();
    expect(admin.recommendation.setup).not.toBeNull();
    expect(admin.recommendation.setup).toHaveProperty('feasible');
    expect(admin.recommendation.summary).not.toMatch(/^no recommendation/);

    const heat = await post({ stack_id: 'stack-rec-b', project_id: 'p1', template: HELLO, parameters: HELLO_PARAMS }, INGEST);
    expect(heat.statusCode).toBe(201);
    expect(heat.json().recommendation.setup).toMatchObject({ feasible: admin.recommendation.setup.feasible, shards: admin.recommendation.setup.shards });
    expect(heat.json().recommendation.summary).toBe(admin.recommendation.summary);
  });

  it('sizes meters by the mean of the last three stored documents once the ingestion hook has seen them', async () => {
    const tpl = TAGGED.split('  attach:')[0]!.replace('default: 2', 'default: 3');
    const plan = estimateStack({ template: { text: tpl, file: 't.yaml' }, stackName: 'warm', pollingConfig: parsePolling(POLLING_TEXT, pollingFile) }).plan;
    // three polls of a stack with one series per meter (no attachment: one disk): each meter's last three documents are all of them
    const samples = generateStackSamples(plan, 3 * 3600, new Date(Date.UTC(2024, 0, 1)), { projectId: 'warmup-project' });
    const r = await app.ingestion.ingestor.submit(samples);
    expect(r.stored).toBe(samples.length);
    const docs = await app.services.db.collection('meter').find({ project_id: 'warmup-project' }).toArray();
    const sizes = new Map<string, number[]>();
    for (const d of docs) sizes.set(d.counter_name, [...(sizes.get(d.counter_name) ?? []), BSON.calculateObjectSize(d)]);

    const res = await post({ stack_id: 'stack-observed', stack_name: 'warm', project_id: 'p2', template: tpl });
    expect(res.statusCode).toBe(201);
    const { estimate } = res.json();
    for (const m of estimate.meters) {
      const seen = sizes.get(m.name)!;
      expect(seen).toHaveLength(3);
      expect(m.size_source).toBe('observed');
      expect(m.bytes_per_event).toBeCloseTo(seen.reduce((a, b) => a + b, 0) / 3, 5);
    }
    const p = (await get(`/v1/predictions/${res.json().prediction_id}`)).json();
    expect(p.size_model).toMatchObject({ observed_meters: estimate.meters.length, other_meters: 0, sources: { observed: estimate.meters.length } });
  });

  it('resolves nested templates and get_file from the files map, and resource_registry from the environment', async () => {
    const parent = `heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 3
      resource_def: {type: lib/member.yaml}
  other: {type: My::Server}
`;
    const member = `heat_template_version: 2018-08-31
resources:
  vm:
    type: OS::Nova::Server
    properties: {image: cirros, flavor: m1.small, user_data: {get_file: boot.sh}}
`;
    const env = `resource_registry:\n  My::Server: lib/member.yaml\n`;
    const res = await post({ stack_id: 'stack-nested', project_id: 'p1', template: parent, environment: env, files: { 'lib/member.yaml': member, 'lib/boot.sh': '#!/bin/sh' } });
    expect(res.statusCode).toBe(201);
    const e = res.json().estimate;
    expect(e.resources['OS::Nova::Server']).toBe(4);
    expect(e.meters.find((m: { name: string }) => m.name === 'cpu').resources).toBe(4);
    expect(res.json().warnings.join('\n')).not.toMatch(/get_file/);
    const p = (await get(`/v1/predictions/${res.json().prediction_id}`)).json();
    expect(p.files).toEqual(['lib/boot.sh', 'lib/member.yaml']);
    // resource types with dots (nested template names) survive the store round trip
    expect(p.estimate).toEqual(e);
    expect(Object.keys(p.estimate.resources)).toContain('lib/member.yaml');

    // the same inputs hash the same; a changed nested file changes the hash
    const again = (await post({ stack_id: 'stack-nested-2', project_id: 'p1', template: parent, environment: env, files: { 'lib/boot.sh': '#!/bin/sh', 'lib/member.yaml': member } })).json();
    const changed = (await post({ stack_id: 'stack-nested-3', project_id: 'p1', template: parent, environment: env, files: { 'lib/boot.sh': '#!/bin/sh', 'lib/member.yaml': member + '\n' } })).json();
    const hashOf = async (id: string) => (await get(`/v1/predictions/${id}`)).json().template_hash;
    expect(await hashOf(again.prediction_id)).toBe(p.template_hash);
    expect(await hashOf(changed.prediction_id)).not.toBe(p.template_hash);
  });

  it('answers 422 with the located error for a broken template, a missing nested file, or a parameter out of range; nothing is stored', async () => {
    const before = (await get('/v1/predictions?limit=100')).json().total;

    const broken = `heat_template_version: 2018-08-31\nresources:\n  web:\n    type: OS::Nova::Server\n    properties: {image: [cirros\n`;
    const a = await post({ stack_id: 's-bad', project_id: 'p1', template: broken });
    expect(a.statusCode).toBe(422);
    expect(a.json().error).toBe('invalid template');
    expect(a.json().message).toMatch(/^template\.yaml:\d+: /);
    expect(a.json().issues[0]).toMatchObject({ file: 'template.yaml' });
    expect(a.json().issues[0].line).toBeGreaterThanOrEqual(5);

    const missing = `heat_template_version: 2018-08-31\nresources:\n  web: {type: lib/nope.yaml}\n`;
    const b = await post({ stack_id: 's-missing', project_id: 'p1', template: missing, files: { 'lib/member.yaml': 'x: 1' } });
    expect(b.statusCode).toBe(422);
    expect(b.json().message).toMatch(/^template\.yaml:3: resources\.web.*nope\.yaml/);
    expect(b.json().message).toContain('lib/member.yaml');

    const c = await post({ stack_id: 's-range', project_id: 'p1', template: HELLO, parameters: { ...HELLO_PARAMS, db_port: 70000 } });
    expect(c.statusCode).toBe(422);
    expect(c.json().message).toMatch(/^template\.yaml:\d+: .*db_port/);

    const d = await post({ stack_id: 's-unknown-key', project_id: 'p1', template: HELLO, colour: 'red' });
    expect(d.statusCode).toBe(400);
    expect(d.json().message).toMatch(/colour/);

    expect((await get('/v1/predictions?limit=100')).json().total).toBe(before);
  });

  it('lets a project-scoped token onboard only its own project', async () => {
    const other = await post({ stack_id: 's-p2', project_id: 'p2', template: HELLO, parameters: HELLO_PARAMS }, P1);
    expect(other.statusCode).toBe(403);
    expect(other.json().message).toMatch(/scoped to project p1/);
    const own = await post({ stack_id: 's-p1', project_id: 'p1', template: HELLO, parameters: HELLO_PARAMS }, P1);
    expect(own.statusCode).toBe(201);
    const reader = await post({ stack_id: 's-r', project_id: 'p1', template: HELLO, parameters: HELLO_PARAMS }, READ);
    expect(reader.statusCode).toBe(403);
  });
});

describe('planner routes', () => {
  it('lists predictions newest first, filtered by stack and project, paginated', async () => {
    const all = (await get('/v1/predictions?limit=100')).json();
    expect(all.total).toBe(all.predictions.length);
    const times = all.predictions.map((p: { created_at: string }) => Date.parse(p.created_at));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(new Set(all.predictions.map((p: { project_id: string }) => p.project_id))).toEqual(new Set(['p1', 'p2']));

    const byStack = (await get('/v1/predictions?stack_id=stack-hello-1')).json();
    expect(byStack.total).toBe(1);
    expect(byStack.predictions[0]).toMatchObject({ stack_id: 'stack-hello-1', stack_name: 'hello', size_method: 'per-meter' });

    const p1 = (await get('/v1/predictions?project_id=p1&limit=100')).json();
    expect(p1.predictions.every((p: { project_id: string }) => p.project_id === 'p1')).toBe(true);
    expect(p1.total).toBe(all.total - 1);

    const page1 = (await get('/v1/predictions?limit=2')).json();
    const page2 = (await get(`/v1/predictions?limit=2&offset=${page1.next_offset}`)).json();
    expect(page1.next_offset).toBe(2);
    expect(page2.predictions.map((p: { prediction_id: string }) => p.prediction_id)).toEqual(all.predictions.slice(2, 4).map((p: { prediction_id: string }) => p.prediction_id));
    const last = (await get(`/v1/predictions?limit=100&offset=${all.total - 1}`)).json();
    expect(last.next_offset).toBeNull();

    expect((await get('/v1/predictions?limit=0')).statusCode).toBe(400);
  });

  it("shows a project-scoped token only its project's predictions (others 404, asking for another project 403)", async () => {
    const mine = (await get('/v1/predictions?limit=100', P1)).json();
    expect(mine.total).toBeGreaterThan(0);
    expect(mine.predictions.every((p: { project_id: string }) => p.project_id === 'p1')).toBe(true);
    expect((await get('/v1/predictions?project_id=p2', P1)).statusCode).toBe(403);
    const p2 = (await get('/v1/predictions?project_id=p2')).json().predictions[0];
    expect((await get(`/v1/predictions/${p2.prediction_id}`, P1)).statusCode).toBe(404);
    expect((await get(`/v1/predictions/${p2.prediction_id}/compare`, P1)).statusCode).toBe(404);
    expect((await get(`/v1/predictions/${p2.prediction_id}`)).statusCode).toBe(200);
    expect((await get('/v1/predictions/not-an-id')).statusCode).toBe(404);
    expect((await get('/v1/predictions', INGEST)).statusCode).toBe(403);
  });

  it('compares the estimate with what the store collected for the stack over a day, by project and by metering.stack', async () => {
    const created = (await post({ stack_id: 'stack-cmp', stack_name: 'cmp', project_id: 'p-cmp', template: TAGGED })).json();
    // The stack as Heat creates it, polled hourly for a day, pushed through the ingestion path.
    const start = new Date(Date.UTC(2024, 2, 1));
    const plan = estimateStack({ template: { text: TAGGED, file: 't.yaml' }, stackName: 'cmp', stackId: 'stack-cmp', pollingConfig: parsePolling(POLLING_TEXT, pollingFile) }).plan;
    const samples = generateStackSamples(plan, 86_400, start, { projectId: 'p-cmp' });
    // one poll after the day, which the comparison must leave out
    const after = generateStackSamples(plan, 3600, new Date(start.getTime() + 86_400_000), { projectId: 'p-cmp' });
    expect((await app.ingestion.ingestor.submit([...samples, ...after])).stored).toBe(samples.length + after.length);

    const res = await get(`/v1/predictions/${created.prediction_id}/compare?period=day&start=${start.toISOString()}`);
    expect(res.statusCode).toBe(200);
    const c = res.json();
    expect(c.window).toMatchObject({ start: start.toISOString(), end: new Date(start.getTime() + 86_400_000).toISOString(), complete: true });
    expect(c.events).toMatchObject({ estimated: created.estimate.events.per_day, actual: samples.length, accuracy: 1 });
    const stored = await app.services.db.collection('meter').find({ project_id: 'p-cmp', timestamp: { $lt: new Date(start.getTime() + 86_400_000) } }).toArray();
    const bytes = stored.reduce((a, d) => a + BSON.calculateObjectSize(d), 0);
    expect(c.bytes.actual).toBe(bytes);
    expect(c.bytes.estimated).toBe(created.estimate.bytes.per_day);
    expect(c.bytes.accuracy).toBeGreaterThan(0.97); // priors only: nothing of this deployment observed yet
    expect(c.meters.find((m: { meter: string }) => m.meter === 'volume.size')).toMatchObject({ estimated: 24, actual: 24, accuracy: 1 });

    const byStack = (await get(`/v1/predictions/${created.prediction_id}/compare?period=day&by=stack&start=${start.toISOString()}`)).json();
    const serverSamples = samples.filter((s) => s.counter_name !== 'volume.size').length;
    expect(byStack.events).toMatchObject({ actual: serverSamples, estimated: serverSamples, accuracy: 1 });
    expect(byStack.meters.map((m: { meter: string }) => m.meter)).not.toContain('volume.size');

    // a week is not over yet for data that starts now: both sides cover start … now
    const running = (await get(`/v1/predictions/${created.prediction_id}/compare?period=week`)).json();
    expect(running.window.complete).toBe(false);
    expect(running.events.actual).toBe(0);
    expect((await get(`/v1/predictions/${created.prediction_id}/compare?period=year`)).statusCode).toBe(400);
  });

  it('describes every route in the OpenAPI document with a summary and response schemas', async () => {
    const doc = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [p, m] of [['/v1/onboarding/heat', 'post'], ['/v1/predictions', 'get'], ['/v1/predictions/{id}', 'get'], ['/v1/predictions/{id}/compare', 'get']] as const) {
      const op = doc.paths[p]?.[m];
      expect(op, `${m} ${p}`).toBeDefined();
      expect(op.summary).toBeTruthy();
      expect(Object.keys(op.responses).length).toBeGreaterThan(1);
    }
    expect(doc.paths['/v1/predictions/{id}'].get.parameters.map((x: { name: string }) => x.name)).toContain('id');
  });
});
