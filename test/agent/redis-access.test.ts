import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application } from '../../controller/app';
import { agentRedisUrl } from '../../agent/config';
import type { Discovery } from '../../agent/metrics';
import { RawStore } from '../../agent/raw-store';
import { Responder } from '../../agent/responder';
import { isolation } from '../support/isolation';
import { redisUrl } from '../support/services';
import { controller, INGEST, P1_INGEST, READ, waitFor } from './helpers';

/**
 * What a registering agent is handed: never the controller's own Redis credentials (they open the
 * billing job queues too), and never to a project-scoped token. The documented Redis ACL user for agents
 * (docs/agent.md) is checked on the real Redis: request/reply works through it, keys and other channels
 * are refused.
 */
const iso = isolation(import.meta.url);
const prefix = `acl-${iso.id}`;
const ctlUser = `ctl_${iso.id}`;
const agentUser = `agent_${iso.id}`;
const CTL_PW = `ctl-pw-${iso.id}`;
const AGENT_PW = `agent-pw-${iso.id}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-acl-'));
const withUser = (user: string, pw: string) => {
  const u = new URL(redisUrl());
  u.username = user;
  u.password = pw;
  return u.toString();
};
let admin: Redis;
const closers: Array<() => Promise<unknown>> = [];
const apps: Application[] = [];

beforeAll(async () => {
  admin = new Redis(redisUrl());
  // the controller's user (everything), and the agents' user as docs/agent.md gives it
  await admin.call('ACL', 'SETUSER', ctlUser, 'on', `>${CTL_PW}`, '~*', '&*', '+@all');
  await admin.call('ACL', 'SETUSER', agentUser, 'reset', 'on', `>${AGENT_PW}`, 'resetchannels', `&${prefix}:*`, '-@all', '+subscribe', '+unsubscribe', '+publish', '+ping', '+info', '+client|setname');
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  for (const a of apps) await a.close().catch(() => undefined);
  await admin.call('ACL', 'DELUSER', ctlUser, agentUser).catch(() => undefined);
  admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const register = (app: Application, token: string) =>
  app.app.inject({ method: 'POST', url: '/v1/agents/register', headers: { authorization: `Bearer ${token}` }, payload: { host: 'h-acl', instance: 'h-acl#1', interval_s: 600, resources: [{ id: 'h-acl', project_id: null, meters: ['hardware.cpu.util'] }] } });

describe('Redis access handed to agents', () => {
  it('the rule: an advertised URL as set; the own URL only without credentials', () => {
    expect(agentRedisUrl({ advertise_redis_url: 'redis://agent:x@r:6379' }, 'redis://ctl:y@r:6379')).toEqual({ url: 'redis://agent:x@r:6379' });
    expect(agentRedisUrl({}, 'redis://127.0.0.1:6379')).toEqual({ url: 'redis://127.0.0.1:6379' });
    for (const own of ['redis://:secret@r:6379', 'rediss://ctl:secret@r:6380', 'redis://ctl@r:6379']) {
      const r = agentRedisUrl({}, own);
      expect(r).toHaveProperty('why');
      expect(JSON.stringify(r)).not.toContain('secret');
    }
  });

  it("a controller whose redis.url has credentials hands them to no agent (503 naming the setting); a project-scoped token registers no agent", async () => {
    const app = await controller(iso.dbName('a'), prefix, { redisUrl: withUser(ctlUser, CTL_PW) });
    apps.push(app);
    await waitFor('the broker connected with the controller user', async () => (await app.app.inject({ method: 'GET', url: '/v1/agents', headers: { authorization: `Bearer ${READ}` } })).statusCode === 200, 20_000);
    const res = await register(app, INGEST);
    expect(res.statusCode).toBe(503);
    expect(res.json().message).toContain('agent.controller.advertise_redis_url');
    expect(res.body).not.toContain(CTL_PW);
    const scoped = await register(app, P1_INGEST);
    expect(scoped.statusCode).toBe(403);
    expect(scoped.json().message).toContain('unscoped ingest token or certificate');
    expect(scoped.body).not.toContain(CTL_PW);
  });

  it('with advertise_redis_url the agent gets the limited user: request/reply works through it, keys and other channels are refused', async () => {
    const agentUrl = withUser(agentUser, AGENT_PW);
    const app = await controller(iso.dbName('b'), prefix, { redisUrl: withUser(ctlUser, CTL_PW), advertiseRedisUrl: agentUrl });
    apps.push(app);
    const res = await register(app, INGEST);
    expect(res.statusCode).toBe(200);
    expect(res.json().redis_url).toBe(agentUrl);
    expect(res.body).not.toContain(CTL_PW);

    // an agent's responder on the handed URL answers a raw request routed by the controller
    const store = new RawStore({ dir: path.join(dir, 'h-acl'), retentionMs: 3_600_000, maxBytes: 1 << 20, segmentBytes: 1 << 16, segmentMs: 600_000, fsyncMs: 1000 });
    const discovery = (): Discovery => ({ host: 'h-acl', architecture: 'x86_64', cpu_model: 'test cpu', cpu_cores: 2, memory_total_bytes: 1 << 30, metrics: [{ name: 'hardware.cpu.util', type: 'gauge', unit: '%', resource_id: 'h-acl' }], resources: [] });
    const responder = await Responder.start({ redisUrl: res.json().redis_url, prefix, host: 'h-acl', instance: 'h-acl#1', heartbeatS: 600, store, discovery });
    closers.push(() => responder.close());
    const raw = await waitFor('a raw answer through the agents\u2019 user', async () => {
      const r = await app.app.inject({ method: 'GET', url: `/v1/resources/h-acl/raw?meter=hardware.cpu.util&from=${new Date(Date.now() - 60_000).toISOString()}`, headers: { authorization: `Bearer ${READ}` } });
      return r.statusCode === 200 ? r : undefined;
    }, 20_000);
    expect(raw.json()).toMatchObject({ resource_id: 'h-acl', meter: 'hardware.cpu.util', host: 'h-acl' });

    // what the agents' user cannot do: read or write keys (the job queues live there), use other channels
    const agent = new Redis(agentUrl, { maxRetriesPerRequest: 1 });
    closers.push(async () => agent.disconnect());
    await expect(agent.get(`bull:${prefix}:anything`)).rejects.toThrow(/NOPERM/);
    await expect(agent.set('x', '1')).rejects.toThrow(/NOPERM/);
    await expect(agent.call('KEYS', '*')).rejects.toThrow(/NOPERM/);
    await expect(agent.publish('elsewhere', 'x')).rejects.toThrow(/NOPERM/);
    expect(await agent.publish(`${prefix}:probe`, 'x')).toBe(0);
  });
});
