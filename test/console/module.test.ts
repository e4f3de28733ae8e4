import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { consoleModule } from '../../console/module';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';

const iso = isolation(import.meta.url);
const apps: Application[] = [];
const start = async (enabled: boolean) => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'viewer', token: 'console-module-read', roles: ['read'], project: 'p1' }] } },
    store: testStoreConfig(iso.dbName(String(enabled))),
    ingest: testIngestConfig(),
    console: { enabled, refreshSeconds: 30 },
  });
  const app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [consoleModule] });
  apps.push(app);
  return app;
};
afterAll(async () => {
  for (const a of apps) {
    await a.services.db.dropDatabase().catch(() => undefined);
    await a.close();
  }
});

describe('console module', () => {
  it('serves the page without a token (it holds no data), hardened, and nothing it does not have', async () => {
    const app = await start(true);
    expect((await app.app.inject({ url: '/ui' })).headers.location).toBe('/ui/');
    const page = await app.app.inject({ url: '/ui/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect((await app.app.inject({ url: '/ui/app.js' })).headers['content-type']).toMatch(/javascript/);
    expect((await app.app.inject({ url: '/ui/..%2Fpackage.json' })).statusCode).toBe(404);
    expect((await app.app.inject({ url: '/ui/nothing.js' })).statusCode).toBe(404);
    // the data behind it needs a token
    expect((await app.app.inject({ url: '/v1/console/session' })).statusCode).toBe(401);
    const who = await app.app.inject({ url: '/v1/console/session', headers: { authorization: 'Bearer console-module-read' } });
    expect(who.json()).toEqual({ name: 'viewer', roles: ['read'], project: 'p1', refresh_seconds: 30 });
  });

  it('with console.enabled false serves no page; the API routes stay', async () => {
    const app = await start(false);
    const page = await app.app.inject({ url: '/ui/' });
    expect([401, 404]).toContain(page.statusCode); // an unknown route: the controller asks for a token first
    expect(page.headers['content-type']).not.toMatch(/text\/html/);
    expect((await app.app.inject({ url: '/v1/series/catalog', headers: { authorization: 'Bearer console-module-read' } })).statusCode).toBe(200);
  });

  it('answers a bad series request with the field at fault', async () => {
    const app = apps[0]!;
    const ask = (q: string) => app.app.inject({ url: `/v1/series?${q}`, headers: { authorization: 'Bearer console-module-read' } });
    expect((await ask('meter=cpu_util')).statusCode).toBe(400);
    expect((await ask('resource_id=a&meter=cpu_util&window=2y')).json().message).toMatch(/window/);
    expect((await ask('resource_id=a&meter=cpu_util&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).json().message).toMatch(/must be before/);
    expect((await ask('resource_id=a&meter=cpu_util&window=7d&step=1')).json().message).toMatch(/at most 1000/);
    expect((await ask(`resource_id=${Array.from({ length: 51 }, (_, i) => `r${i}`).join(',')}&meter=cpu_util`)).json().message).toMatch(/1 to 50 resource ids/);
    expect((await ask('resource_id=a&meter=cpu_util&project_id=p2')).statusCode).toBe(403);
  });
});
