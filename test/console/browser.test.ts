import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, PANEL_NAMES, signIn } from '../../console/browser';
import { startApplication, type Application } from '../../controller/app';
import { productModules } from '../../app/modules';
import { meteringConfig } from '../../app/config';
import { QUEUES } from '../../billing/jobs/queues';
import type { JobsModule } from '../../billing/jobs/module';
import { EXAMPLE_PLAN } from '../../billing/jobs/demo';
import { createKafka } from '../../pipeline/kafka/client';
import { loadPlanFile } from '../../billing/rating/plan';
import { rateStoredUsage } from '../../billing/rating/store';
import { asDict, CEILOMETER_DEFAULT_SECRET, kafkaValues } from '../../pipeline/replay/encode';
import type { Sample } from '../../pipeline/sample';
import { readBitbrains, traceVmName } from '../../profiler/bitbrains';
import { TraceSampler, traceVmIdentity } from '../../profiler/trace-samples';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { REPO, SHARED } from '../support/paths';
import { kafkaBrokers, redisUrl } from '../support/services';

// The operator console in real headless Chromium (Debian's chromium, driven by playwright-core)
// against a running controller with real Kafka, Redis and MongoDB, on real Bitbrains traces:
// project A's two VMs arrive over HTTP, project B's VM over Kafka; mediation, rating, invoices and
// an onboarding prediction are made through the product's own jobs and routes.
const iso = isolation(import.meta.url);
const A = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1';
const B = 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2';
const TOKENS = { admin: 'console-admin-token', read: 'console-read-token', tenantA: 'console-tenant-a-token', tenantB: 'console-tenant-b-token', ingest: 'console-ingest-only-token' };
const SHOTS = path.join(REPO, 'out/test-console');
const TRACES = path.join(SHARED, 'data/traces/bitbrains-rnd');
const ROWS = 60; // five hours of 5-minute rows per VM

let app: Application;
let base: string;
let browser: Browser;
const vmNames: Record<'A' | 'B', string[]> = { A: [], B: [] };

async function traceSamples(file: string, project: string): Promise<Sample[]> {
  const sampler = new TraceSampler(traceVmName(file), { projectId: project, traceSet: 'console-test' });
  const out: Sample[] = [];
  let n = 0;
  for await (const row of readBitbrains(file)) {
    if (n++ >= ROWS) break;
    out.push(...sampler.samples(row));
  }
  return out;
}

const call = async (method: 'GET' | 'POST', url: string, payload?: unknown, token = TOKENS.admin) => {
  const res = await app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json();
};

async function job(id: string): Promise<{ result: any }> {
  const end = Date.now() + 60_000;
  for (;;) {
    const j = await call('GET', `/v1/jobs/${encodeURIComponent(id)}`);
    if (j.state === 'completed') return j;
    if (j.state === 'failed' && j.attempts >= j.maxAttempts) throw new Error(`job ${id} failed: ${j.failedReason}`);
    if (Date.now() > end) throw new Error(`job ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A page that records every console error and uncaught exception. */
async function page(viewport = { width: 1280, height: 800 }): Promise<{ page: Page; errors: string[] }> {
  const p = await browser.newPage({ viewport });
  const errors: string[] = [];
  p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  p.on('pageerror', (e) => errors.push(e.message));
  return { page: p, errors };
}

beforeAll(async () => {
  const topic = iso.topic('ceilometer');
  const config = meteringConfig.parse({
    controller: {
      host: '127.0.0.1',
      port: 0,
      auth: {
        tokens: [
          { name: 'ops', token: TOKENS.admin, roles: ['admin'] },
          { name: 'dashboard', token: TOKENS.read, roles: ['read'] },
          { name: 'tenant-a', token: TOKENS.tenantA, roles: ['read'], project: A },
          { name: 'tenant-b', token: TOKENS.tenantB, roles: ['read'], project: B },
          { name: 'publisher', token: TOKENS.ingest, roles: ['ingest'] },
        ],
      },
    },
    store: testStoreConfig(iso.dbName(), { serverSelectionTimeoutMs: 10_000 }),
    ingest: { ...testIngestConfig(), telemetrySecret: CEILOMETER_DEFAULT_SECRET, acceptance: 'store' },
    kafka: { brokers: kafkaBrokers(), groupId: iso.groupId(), topics: [topic], ingestTopic: `${topic}.ingest`, fromBeginning: true, fetchMaxWaitMs: 100, clientId: iso.id },
    redis: { url: redisUrl(), prefix: iso.queuePrefix() },
    profiler: { snapshot_path: path.join(REPO, '.cache', `${iso.id}-profiler.json`), snapshot_interval_s: 0 },
    mediation: { granularity: 'day', timezone: 'UTC', lateDataCheckSeconds: 0 },
    rating: { plan: EXAMPLE_PLAN, billingPeriod: 'day', reportDir: path.join(REPO, '.cache', `${iso.id}-reports`) },
    console: { refreshSeconds: 3600 },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), modules: productModules, kafka: true });
  base = app.url!;

  const files = ['27.csv', '41.csv', '62.csv'].map((f) => path.join(TRACES, f));
  const [a1, a2, b1] = await Promise.all([traceSamples(files[0]!, A), traceSamples(files[1]!, A), traceSamples(files[2]!, B)]);
  vmNames.A = [traceVmName(files[0]!), traceVmName(files[1]!)];
  vmNames.B = [traceVmName(files[2]!)];
  // A over HTTP (Ceilometer's http:// publisher body), with one sample the parser refuses
  const body = [...a1, ...a2].map(asDict);
  body.push({ ...body[0]!, message_id: 'bad-one', timestamp: 'not a time' });
  for (let i = 0; i < body.length; i += 500) await call('POST', '/v1/samples', body.slice(i, i + 500), TOKENS.ingest).catch((e) => expect(String(e)).toMatch(/timestamp/));
  // B over Kafka (the kafka:// publisher's signed counter_* messages)
  const producer = createKafka({ brokers: kafkaBrokers(), clientId: iso.id }).producer();
  await producer.connect();
  await producer.send({ topic, messages: kafkaValues(b1, 'counter', CEILOMETER_DEFAULT_SECRET, 50).map((value) => ({ value })) });
  await producer.disconnect();
  const meter = app.services.db.collection('meter');
  const end = Date.now() + 30_000;
  while ((await meter.countDocuments({ project_id: B })) < b1.length) {
    if (Date.now() > end) throw new Error('project B samples did not arrive through Kafka');
    await new Promise((r) => setTimeout(r, 200));
  }

  // usage, rating and one draft invoice per project, through the product's jobs
  const stamps = [...a1, ...b1].map((s) => +s.timestamp);
  const from = new Date(Math.floor(Math.min(...stamps) / 86_400_000) * 86_400_000);
  const to = new Date(Math.ceil((Math.max(...stamps) + 1) / 86_400_000) * 86_400_000);
  const range = { from: from.toISOString(), to: to.toISOString() };
  await job((await call('POST', '/v1/jobs/mediation', { ...range, rate: false })).id);
  await rateStoredUsage(app.services.db, loadPlanFile(EXAMPLE_PLAN), { granularity: 'day', timezone: 'UTC', from, to, usage: config.mediation.into, into: config.rating.into });
  for (const project of [A, B]) await job((await call('POST', '/v1/jobs/invoice', { ...range, granularity: 'day', project_id: project, currency: 'EUR' })).id);
  // an onboarding prediction for B, and one live scaler evaluation
  const template = readFileSync(path.join(SHARED, 'corpus/heat-templates/hot/asg_of_servers.yaml'), 'utf8');
  await call('POST', '/v1/onboarding/heat', { stack_id: 'console-stack-b', project_id: B, template, parameters: { key_name: 'k', image: 'cirros' } });
  await call('POST', '/v1/scaler/evaluate');
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  const jobs = app?.modules.find((m) => m.name === 'jobs') as JobsModule | undefined;
  for (const q of QUEUES) await jobs?.runtime.queues?.[q].obliterate({ force: true }).catch(() => undefined);
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('console in headless Chromium', () => {
  it('signs in with an admin token and every panel renders real data, without console errors', async () => {
    const { page: p, errors } = await page();
    await signIn(p, base, TOKENS.admin);
    expect(p.url()).not.toContain(TOKENS.admin);
    expect(await p.evaluate(() => sessionStorage.getItem('metering.console.token'))).toBe(TOKENS.admin);
    const panel = (name: string) => p.locator(`[data-panel="${name}"]`);
    await expect.poll(() => panel('pipeline').textContent()).toMatch(/ingest rate, http/);
    await expect.poll(() => panel('pipeline').textContent()).toMatch(/ingest rate, kafka/);
    const pipeline = (await panel('pipeline').textContent())!;
    expect(pipeline).toMatch(/Consumer lag per partition/);
    expect(pipeline).toMatch(new RegExp(`${iso.topic('ceilometer')}`));
    expect(pipeline).toMatch(/timestamp\s*1/); // the refused sample, by reason
    await panel('pipeline').getByRole('button', { name: 'timestamp' }).click();
    await expect.poll(() => panel('pipeline').textContent()).toMatch(/Dead letters: timestamp[\s\S]*not a time/);
    await panel('pipeline').getByRole('button', { name: /Reconcile/ }).click();
    await expect.poll(() => p.getByTestId('reconciliation-result').textContent()).toMatch(/Every resource-hour matches/);
    await expect.poll(() => panel('cluster').textContent()).toMatch(/metering data\s*[\d.]+ (kB|MB)/);
    await expect.poll(() => panel('scaler').textContent()).toMatch(/none/);
    await expect.poll(() => panel('profiles').textContent()).toMatch(new RegExp(`${vmNames.A[0]}[\\s\\S]*${vmNames.B[0]}|${vmNames.B[0]}[\\s\\S]*${vmNames.A[0]}`));
    // the time-window graph: uPlot draws a canvas with one line per chosen host plus the average
    await expect.poll(() => panel('profiles').locator('canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => panel('profiles').locator('.u-legend').textContent()).toMatch(/avg of 3/);
    await panel('profiles').getByLabel('Aggregate hosts').selectOption('max');
    await expect.poll(() => panel('profiles').locator('.u-legend').textContent()).toMatch(/max of 3/);
    await panel('profiles').getByLabel('24 h').check();
    await expect.poll(() => panel('predictions').textContent()).toMatch(/console-stack-b[\s\S]*estimate vs actual/);
    await expect.poll(() => panel('predictions').textContent()).toMatch(/events: estimate vs actual/);
    await expect.poll(() => panel('usage').textContent()).toMatch(/cpu\s*[\d.]+ h/);
    await expect.poll(() => panel('invoices').textContent()).toMatch(/INV-\d+[\s\S]*€/);
    await expect.poll(() => p.getByTestId('compliance-summary').textContent()).toMatch(/open alerts \d+/);
    for (const name of PANEL_NAMES) {
      await panel(name).scrollIntoViewIfNeeded();
      await panel(name).screenshot({ path: path.join(SHOTS, `${name}.png`) });
    }
    // issuing a draft is an admin action, confirmed in a dialog
    p.once('dialog', (d) => void d.accept());
    await panel('invoices').getByRole('button', { name: 'Issue this draft' }).first().click();
    await expect.poll(() => panel('invoices').textContent()).toMatch(/issued/);
    expect(errors).toEqual([]);
    await p.close();
  }, 120_000);

  it('hides admin actions from a read token', async () => {
    const { page: p, errors } = await page();
    await signIn(p, base, TOKENS.read);
    await expect.poll(() => p.locator('[data-panel="invoices"]').textContent()).toMatch(/INV-/);
    await p.locator('[data-panel="scaler"]').getByText(/none/).first().waitFor();
    expect(await p.locator('[data-admin]').count()).toBe(0);
    expect(await p.getByRole('button', { name: /Issue/ }).count()).toBe(0);
    expect(await p.getByRole('button', { name: /Evaluate now/ }).count()).toBe(0);
    expect(await p.getByTestId('who').textContent()).toMatch(/read[\s\S]*all projects/);
    expect(errors).toEqual([]);
    await p.close();
  }, 60_000);

  it("shows a project-scoped token nothing of another project", async () => {
    const { page: p, errors } = await page();
    await signIn(p, base, TOKENS.tenantB);
    const panels = await p.locator('[data-panel]').evaluateAll((els) => els.map((e) => e.getAttribute('data-panel')));
    expect(panels).toEqual(['profiles', 'predictions', 'usage', 'invoices', 'compliance']);
    await expect.poll(() => p.locator('[data-panel="profiles"]').textContent()).toMatch(new RegExp(vmNames.B[0]!));
    await expect.poll(() => p.locator('[data-panel="invoices"]').textContent()).toMatch(/INV-/);
    await expect.poll(() => p.locator('[data-panel="predictions"]').textContent()).toMatch(/console-stack-b/);
    await expect.poll(() => p.locator('[data-panel="usage"]').textContent()).toMatch(/cpu/);
    await p.locator('[data-panel="profiles"] canvas').first().waitFor();
    const text = (await p.locator('main').textContent())!;
    expect(text).not.toContain(A);
    // VM names are short numbers (trace file names) that also occur in times and figures: look for
    // project A's resource ids (the console shows at least their first 8 characters wherever a VM is named)
    for (const name of vmNames.A) expect(text).not.toContain(traceVmIdentity(name).instanceId.slice(0, 8));
    const hosts = await p.locator('[data-panel="profiles"] .hosts li').allTextContents();
    expect(hosts.length).toBeGreaterThan(0);
    expect(hosts.every((h) => h.includes(vmNames.B[0]!))).toBe(true);
    // and the routes behind the panels agree: A's resource is invisible to B's token
    const catalogA = await call('GET', '/v1/series/catalog', undefined, TOKENS.tenantA);
    const aResource = catalogA.resources[0].resource_id;
    const asB = await call('GET', `/v1/series?resource_id=${aResource}&meter=cpu_util&window=7d`, undefined, TOKENS.tenantB);
    expect(asB.series).toEqual([]);
    expect(errors).toEqual([]);
    await p.close();
  }, 60_000);

  it('keeps the token out of URLs, survives a reload in the tab, forgets it on sign-out, refuses unknown and ingest-only tokens', async () => {
    const { page: p, errors } = await page();
    const requested: string[] = [];
    p.on('request', (r) => requested.push(r.url()));
    await signIn(p, base, TOKENS.read);
    await p.reload();
    await p.getByTestId('who').waitFor();
    expect(requested.some((u) => u.includes(TOKENS.read))).toBe(false);
    await p.getByRole('button', { name: 'Sign out' }).click();
    expect(await p.evaluate(() => sessionStorage.getItem('metering.console.token'))).toBeNull();
    await p.getByLabel('API token').fill('no-such-token');
    await p.keyboard.press('Enter');
    await expect.poll(() => p.getByRole('alert').textContent()).toMatch(/Unknown token/);
    await p.getByLabel('API token').fill(TOKENS.ingest);
    await p.keyboard.press('Enter');
    await expect.poll(() => p.getByRole('alert').textContent()).toMatch(/lacks the read role/);
    // refused sign-ins answer 401/403, which the browser reports; nothing else may have gone wrong
    expect(errors.filter((e) => !/status of 40[13]/.test(e))).toEqual([]);
    await p.close();
  }, 60_000);

  it('works on a narrow screen: nothing wider than the viewport, every control labelled', async () => {
    const { page: p, errors } = await page({ width: 390, height: 844 });
    const served = await p.request.get(`${base}/ui/`);
    expect(served.headers()['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(served.headers()['x-content-type-options']).toBe('nosniff');
    await signIn(p, base, TOKENS.admin);
    await p.locator('[data-panel="profiles"] canvas').first().waitFor();
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const wide = await p.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.parentElement?.closest('.table-wrap'))
        .slice(0, 8)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().width)}px`),
    );
    const sizes = await p.evaluate(() => `inner ${window.innerWidth}, client ${document.documentElement.clientWidth}, scroll ${document.documentElement.scrollWidth}, body ${document.body.scrollWidth}`);
    expect(overflow, `${sizes}; ${wide.join('; ')}`).toBeLessThanOrEqual(1);
    const unlabelled = await p.evaluate(() =>
      [...document.querySelectorAll('input, select, button')]
        .filter((el) => {
          const e = el as HTMLInputElement;
          return !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent ?? '').trim();
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
    await p.screenshot({ path: path.join(SHOTS, 'narrow.png'), fullPage: false });
    expect(errors).toEqual([]);
    await p.close();
  }, 60_000);
});
