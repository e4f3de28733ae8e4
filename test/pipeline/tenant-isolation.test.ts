import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { profilerModule } from '../../profiler/module';
import { testIngestConfig, testStoreConfig, makeSample } from './ingest/helpers';
import { isolation } from '../support/isolation';
import type { Sample } from '../../pipeline/sample';

/**
 * Tenants cannot touch each other's resources or samples (issue 10, findings 2 and 3): a sample can
 * only create or update a resource of its own project, and a message id taken by another project (or
 * reused with different content) is reported as a conflict, never silently counted as a duplicate.
 */

const iso = isolation(import.meta.url);
const TOKENS = {
  ingestA: 'ingest-token-of-project-a-0001', readA: 'read-token-of-project-a-00001',
  ingestB: 'ingest-token-of-project-b-0001', readB: 'read-token-of-project-b-00001',
  admin: 'admin-token-tenant-isolation-1',
};

const asDict = (s: Sample) => ({
  name: s.counter_name, type: s.counter_type, unit: s.counter_unit, volume: s.counter_volume,
  user_id: s.user_id, project_id: s.project_id, resource_id: s.resource_id,
  timestamp: s.timestamp.toISOString().replace('Z', ''), resource_metadata: s.resource_metadata,
  source: s.source, id: s.message_id,
});

let app: Application;
const post = (samples: Array<Record<string, unknown>>, token: string) =>
  app.app.inject({ method: 'POST', url: '/v1/samples', payload: JSON.stringify(samples), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
const get = (url: string, token: string) => app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: {
      auth: {
        tokens: [
          { name: 'a-ingest', token: TOKENS.ingestA, roles: ['ingest'], project: 'projA' },
          { name: 'a-read', token: TOKENS.readA, roles: ['read'], project: 'projA' },
          { name: 'b-ingest', token: TOKENS.ingestB, roles: ['ingest'], project: 'projB' },
          { name: 'b-read', token: TOKENS.readB, roles: ['read'], project: 'projB' },
          { name: 'admin', token: TOKENS.admin, roles: ['admin'] },
        ],
      },
    },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [profilerModule] });
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe("resources are their project's (finding 2)", () => {
  it("a project-scoped token cannot take over another project's VM: the sample is refused with a reason, the VM stays projB's", async () => {
    const vm = `vm-of-b-${iso.id}`;
    const b1 = makeSample({ project_id: 'projB', resource_id: vm, resource_metadata: { display_name: 'b-web' } });
    expect((await post([asDict(b1)], TOKENS.ingestB)).json()).toMatchObject({ stored: 1 });

    const takeover = makeSample({ project_id: 'projA', resource_id: vm, resource_metadata: { display_name: 'mine-now' }, timestamp: new Date(b1.timestamp.getTime() + 60_000) });
    const res = await post([asDict(takeover)], TOKENS.ingestA);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 0, stored: 0, rejected: 1 });
    expect(res.json().rejects[0].reason).toMatch(/belongs to another project/);
    expect(res.json().rejects[0].reason).not.toMatch(/projB/); // the owner is not disclosed

    const resource = await app.services.db.collection('resource').findOne({ _id: vm as never });
    expect(resource).toMatchObject({ project_id: 'projB', metadata: { display_name: 'b-web' } });
    expect(await app.services.db.collection('meter').countDocuments({ resource_id: vm })).toBe(1);
    const dead = await app.services.db.collection('dead_letter').findOne({ message_id: takeover.message_id });
    expect(dead?.reason).toMatch(/belongs to another project/);

    // projA cannot see the VM, projB still does, and projB keeps writing to it
    expect((await get(`/v1/profiles/${vm}`, TOKENS.readA)).statusCode).toBe(404);
    const listB = (await get('/v1/profiles', TOKENS.readB)).json();
    expect(JSON.stringify(listB)).toContain(vm);
    const listA = (await get('/v1/profiles', TOKENS.readA)).json();
    expect(JSON.stringify(listA)).not.toContain(vm);
    const b2 = makeSample({ project_id: 'projB', resource_id: vm, timestamp: new Date(b1.timestamp.getTime() + 120_000) });
    expect((await post([asDict(b2)], TOKENS.ingestB)).json()).toMatchObject({ stored: 1 });
  });

  it('an admin (unscoped) token cannot move a resource by posting a sample either; the neighbours of the refused sample are stored', async () => {
    const vm = `vm2-of-b-${iso.id}`;
    expect((await post([asDict(makeSample({ project_id: 'projB', resource_id: vm }))], TOKENS.ingestB)).json()).toMatchObject({ stored: 1 });
    const mine = makeSample({ project_id: 'projA', resource_id: `vm-of-a-${iso.id}` });
    const res = await post([asDict(mine), asDict(makeSample({ project_id: 'projA', resource_id: vm })), asDict(makeSample({ project_id: 'projB', resource_id: vm }))], TOKENS.admin);
    expect(res.json()).toMatchObject({ accepted: 2, stored: 2, rejected: 1 });
    expect(res.json().rejects.map((r: { index: number }) => r.index)).toEqual([1]);
    expect(await app.services.db.collection('resource').findOne({ _id: vm as never })).toMatchObject({ project_id: 'projB' });
  });

  it('concurrent first samples of one project for a new resource are all stored (an upsert race is not a conflict)', async () => {
    const vm = `vm-race-${iso.id}`;
    const samples = Array.from({ length: 12 }, () => makeSample({ project_id: 'projA', resource_id: vm }));
    const answers = await Promise.all(samples.map((s) => post([asDict(s)], TOKENS.ingestA)));
    expect(answers.map((a) => a.json().stored)).toEqual(samples.map(() => 1));
    expect(await app.services.db.collection('resource').findOne({ _id: vm as never })).toMatchObject({ project_id: 'projA' });
  });

  it('a documented ownership move (the resource document re-assigned by an admin) lets the new project write and refuses the old one', async () => {
    const vm = `vm3-moved-${iso.id}`;
    expect((await post([asDict(makeSample({ project_id: 'projB', resource_id: vm }))], TOKENS.ingestB)).json()).toMatchObject({ stored: 1 });
    await app.services.db.collection('resource').updateOne({ _id: vm as never }, { $set: { project_id: 'projA' } });
    expect((await post([asDict(makeSample({ project_id: 'projA', resource_id: vm }))], TOKENS.ingestA)).json()).toMatchObject({ stored: 1 });
    expect((await post([asDict(makeSample({ project_id: 'projB', resource_id: vm }))], TOKENS.ingestB)).json()).toMatchObject({ stored: 0, rejected: 1 });
  });
});

describe('message ids: a taken id is a conflict unless the content is the same (finding 3)', () => {
  it("ids cannot collide across projects: projA taking an id first does not touch projB's genuine sample with that id", async () => {
    const genuine = makeSample({ project_id: 'projB', resource_id: `vm-b-ids-${iso.id}` });
    const squat = makeSample({ project_id: 'projA', resource_id: `vm-a-ids-${iso.id}`, message_id: genuine.message_id });
    expect((await post([asDict(squat)], TOKENS.ingestA)).json()).toMatchObject({ stored: 1 });
    const res = await post([asDict(genuine)], TOKENS.ingestB);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ stored: 1, duplicates: 0, rejected: 0 });
    const docs = await app.services.db.collection('meter').find({ message_id: genuine.message_id }).sort({ project_id: 1 }).toArray();
    expect(docs).toMatchObject([{ project_id: 'projA', resource_id: squat.resource_id }, { project_id: 'projB', resource_id: genuine.resource_id }]);
    // and a resend by either is a duplicate of its own
    expect((await post([asDict(genuine)], TOKENS.ingestB)).json()).toMatchObject({ stored: 0, duplicates: 1 });
  });

  it('a taken id of the same project with other content (another resource) is a conflict, reported and dead-lettered, never dropped silently', async () => {
    const first = makeSample({ project_id: 'projB', resource_id: `vm-b-c1-${iso.id}` });
    const other = makeSample({ project_id: 'projB', resource_id: `vm-b-c2-${iso.id}`, message_id: first.message_id });
    expect((await post([asDict(first)], TOKENS.ingestB)).json()).toMatchObject({ stored: 1 });
    const res = await post([asDict(other)], TOKENS.ingestB);
    expect(res.json()).toMatchObject({ stored: 0, duplicates: 0, rejected: 1 });
    expect(res.json().rejects[0]).toMatchObject({ index: 0, message_id: first.message_id });
    expect(res.json().rejects[0].reason).toMatch(/already stored with different content/);
    const dead = await app.services.db.collection('dead_letter').findOne({ message_id: first.message_id });
    expect(dead?.reason).toMatch(/already stored with different content/);
    expect(dead?.payload).toContain(other.resource_id);
  });

  it('the same id with a different volume in one body is a conflict; the very same sample twice is a duplicate; a resend is a duplicate', async () => {
    const s = makeSample({ project_id: 'projA', resource_id: `vm-a-vol-${iso.id}` });
    const res = await post([asDict(s), asDict({ ...s, counter_volume: s.counter_volume + 1 }), asDict(s)], TOKENS.ingestA);
    expect(res.json()).toMatchObject({ accepted: 2, stored: 1, duplicates: 1, rejected: 1 });
    expect(res.json().rejects).toMatchObject([{ index: 1, message_id: s.message_id }]);
    expect(res.json().rejects[0].reason).toMatch(/different content/);
    expect((await post([asDict(s)], TOKENS.ingestA)).json()).toMatchObject({ stored: 0, duplicates: 1, rejected: 0 });
    expect(await app.services.db.collection('meter').find({ message_id: s.message_id }).toArray()).toMatchObject([{ counter_volume: s.counter_volume }]);
  });
});
