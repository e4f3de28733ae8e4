import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApplication, type Application } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import type { BillingCycleJob } from '../../billing/jobs/cycle';
import { jobsModule, type JobsModule } from '../../billing/jobs/module';
import { QUEUES } from '../../billing/jobs/queues';
import { BILLING_CYCLE } from '../../billing/jobs/workers';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';
import { mongoUri, redisUrl, servicesEnv } from '../support/services';
import { REPO } from '../support/paths';

/**
 * The operator's scenario of issue 11, through the public API only (samples in through
 * POST /v1/samples, jobs through /v1/jobs, invoices through /v1/invoices, the ledger and the
 * reconciliation through /v1/ledger), with the default periods (mediation by day, billing by month,
 * UTC): three projects, two months of a per-GB delta meter on time; September invoiced and issued
 * (two concurrent issues of one invoice); late September samples (→ corrections on the next
 * invoice); the October billing cycle running while late data is re-mediated; late October samples
 * after the draft (→ redraft); October issued. Every invoice total is checked to the cent against an
 * independent integer computation over every sample sent.
 */

const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-for-billing-scenario';
const INGEST = 'ingest-token-for-billing-scenario';
const TENANT_P2 = 'read-token-of-p2-for-billing-scenario';
const dir = mkdtempSync(path.join(tmpdir(), 'billing-scenario-'));
const planFile = path.join(dir, 'plan.yaml');
// graduated per GB: the first 100 GB of a month at 0.10, the rest at 0.05 (half-even to the cent)
writeFileSync(planFile, 'currency: EUR\nplans:\n  - {id: std, projects: ["*"], effective_from: 2026-01-01, charges: [{meter: egress, model: graduated, tiers: [{up_to: 100, unit_price: "0.10"}, {up_to: null, unit_price: "0.05"}]}]}\n');

interface Sent {
  project: string;
  at: Date;
  gb: string; // decimal string: the expected computation never touches a float
}
const sent: Sent[] = [];

let app: Application;
let jobs: JobsModule;
const call = (method: 'GET' | 'POST', url: string, token = ADMIN, payload?: unknown) =>
  app.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });

/** Send samples the way Ceilometer's http:// publisher does. */
async function send(samples: Sent[]): Promise<void> {
  const body = samples.map((s) => ({
    name: 'egress', type: 'delta', unit: 'GB', volume: Number(s.gb), user_id: 'u', user_name: null, project_id: s.project, project_name: null,
    resource_id: `router-${s.project}`, timestamp: s.at.toISOString().replace('Z', ''), resource_metadata: {}, source: 'openstack', id: randomUUID(), monotonic_time: null,
  }));
  const res = await app.app.inject({ method: 'POST', url: '/v1/samples', payload: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ stored: samples.length });
  sent.push(...samples);
}

/** Wait until no job is waiting or running; a job that failed for good fails the test with its reason. */
async function idle(timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const list = (await call('GET', '/v1/jobs?limit=1000')).json().jobs as Array<{ id: string; state: string; failedReason: string | null }>;
    const failed = list.filter((j) => j.state === 'failed');
    if (failed.length) throw new Error(`jobs failed: ${failed.map((j) => `${j.id}: ${j.failedReason}`).join('; ')}`);
    if (list.every((j) => j.state === 'completed')) return;
    if (Date.now() > until) throw new Error(`jobs still busy: ${list.filter((j) => j.state !== 'completed').map((j) => `${j.id} ${j.state}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What the late-data timer does, until nothing is left to re-mediate. */
async function drainLateData(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await idle();
    await jobs.runtime.tracker.flush();
    if ((await jobs.runtime.checkLateData()).length === 0) return idle();
  }
  throw new Error('late data kept coming back');
}

/**
 * The independent computation: Σ GB per project and UTC month in hundredths of a GB (integers), priced
 * 100 GB × 0.10 then × 0.05 in ten-thousandths of a euro, rounded half-even to the cent.
 */
function expectedCents(samples: readonly Sent[]): Map<string, number> {
  const centiGb = new Map<string, number>();
  for (const s of samples) {
    const [whole, frac = ''] = s.gb.split('.');
    const k = `${s.project}|${s.at.toISOString().slice(0, 7)}`;
    centiGb.set(k, (centiGb.get(k) ?? 0) + Number(whole) * 100 + Number(frac.padEnd(2, '0')));
  }
  const out = new Map<string, number>();
  for (const [k, q] of centiGb) {
    const tenThousandths = Math.min(q, 10_000) * 10 + Math.max(q - 10_000, 0) * 5; // 0.10 €/GB = 0.001 €/cGB
    const cents = Math.floor(tenThousandths / 100);
    const rest = tenThousandths % 100;
    out.set(k, rest > 50 || (rest === 50 && cents % 2 === 1) ? cents + 1 : cents);
  }
  return out;
}
const euros = (cents: number) => (cents / 100).toFixed(2);
const sumCents = (m: Map<string, number>, pred: (k: string) => boolean) => [...m].filter(([k]) => pred(k)).reduce((s, [, c]) => s + c, 0);

function day(month: 9 | 10, d: number, hour: number, minute = 0): Date {
  return new Date(Date.UTC(2026, month - 1, d, hour, minute));
}
const PROJECTS = { p1: '1.75', p2: '0.5', p3: '2.25' } as const;

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }, { name: 'ceilometer', token: INGEST, roles: ['ingest'] }, { name: 'tenant-p2', token: TENANT_P2, roles: ['read'], project: 'p2' }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: { ...testIngestConfig(), signaturePolicy: 'off' },
    redis: { url: redisUrl(), prefix: iso.queuePrefix() },
    mediation: { lateDataCheckSeconds: 0 }, // the test drains the tracker itself (what the timer does)
    rating: { plan: planFile, reportDir: path.join(dir, 'reports') },
  });
  expect(config.mediation.granularity).toBe('day');
  expect(config.rating.billingPeriod).toBe('month');
  expect(config.mediation.timezone).toBe('UTC');
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [jobsModule] });
  jobs = app.modules.find((m) => m.name === 'jobs') as JobsModule;
});
let killAfter: (() => void) | undefined;
afterAll(async () => {
  killAfter?.();
  for (const q of QUEUES) await jobs?.runtime.queues?.[q].obliterate({ force: true }).catch(() => undefined);
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('money stays right under late data, concurrency and crashes (public API, default periods)', () => {
  const invoices: Record<string, { sep?: string; oct?: string }> = { p1: {}, p2: {}, p3: {} };
  /** What September's invoices billed: the on-time samples. */
  let onTimeSepCents = new Map<string, number>();

  it('September on time: mediated, rated monthly, invoiced and issued; two concurrent issues give one 200 and one 409', async () => {
    const onTime: Sent[] = [];
    for (const [project, gb] of Object.entries(PROJECTS)) {
      for (const month of [9, 10] as const) {
        for (let d = 1; d <= (month === 9 ? 30 : 31); d++) onTime.push({ project, at: day(month, d, 6), gb }, { project, at: day(month, d, 18), gb });
      }
    }
    await send(onTime);
    const med = await call('POST', '/v1/jobs/mediation', ADMIN, { from: '2026-09-01', to: '2026-10-01' });
    expect(med.statusCode).toBe(202);
    await idle();
    const expected = expectedCents(onTime);
    onTimeSepCents = expected;
    for (const project of Object.keys(PROJECTS)) {
      const enq = await call('POST', '/v1/jobs/invoice', ADMIN, { from: '2026-09-01', to: '2026-10-01', project_id: project });
      expect(enq.statusCode).toBe(202);
    }
    await idle();
    const list = (await call('GET', '/v1/invoices?status=draft')).json().invoices as Array<{ number: string; account: { project_id: string }; total: string; lines: unknown[] }>;
    expect(list).toHaveLength(3);
    for (const inv of list) {
      // one monthly line per project: no daily lines beside it
      expect(inv.lines).toHaveLength(1);
      expect(inv.total).toBe(euros(expected.get(`${inv.account.project_id}|2026-09`)!));
      invoices[inv.account.project_id]!.sep = inv.number;
    }
    const [a, b] = await Promise.all([call('POST', `/v1/invoices/${invoices.p1!.sep}/issue`), call('POST', `/v1/invoices/${invoices.p1!.sep}/issue`)]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409]);
    for (const p of ['p2', 'p3']) expect((await call('POST', `/v1/invoices/${invoices[p]!.sep}/issue`)).statusCode).toBe(200);
  });

  it('late September samples after issue and the October billing cycle, concurrently: corrections name the September invoice; October is drafted', async () => {
    await send([
      { project: 'p1', at: day(9, 10, 12), gb: '2' }, { project: 'p1', at: day(9, 10, 12, 10), gb: '2' }, { project: 'p1', at: day(9, 10, 12, 20), gb: '2' },
      { project: 'p3', at: day(9, 30, 23, 30), gb: '1.5' },
      { project: 'p2', at: day(10, 20, 12), gb: '4.25' }, // October is not mediated yet: the cycle will read it
    ]);
    await jobs.runtime.tracker.flush();
    const cycle: BillingCycleJob = { granularity: 'day', timezone: 'UTC', carrySeconds: 3600, billingPeriod: 'month', graceSeconds: 172_800, planFile, now: '2026-11-03T00:00:00.000Z' };
    // the billing cycle (invoice worker) and the late-data re-mediation (mediation and rating workers) at once
    await Promise.all([
      jobs.runtime.queues!.invoice.add(BILLING_CYCLE, cycle as never, { jobId: 'billing-cycle-test' }),
      jobs.runtime.checkLateData(),
      send([{ project: 'p1', at: day(10, 31, 23, 59), gb: '0.25' }]), // lands while October is being mediated
    ]);
    await drainLateData();

    // issued invoices never change
    for (const p of Object.keys(PROJECTS)) expect((await call('GET', `/v1/invoices/${invoices[p]!.sep}`)).json()).toMatchObject({ status: 'issued', total: euros(onTimeSepCents.get(`${p}|2026-09`)!) });
    const ledger = (await call('GET', '/v1/ledger?project_id=p1')).json().accounts[0];
    const corrections = ledger.entries.filter((e: { kind: string }) => e.kind === 'correction');
    expect(corrections.length).toBeGreaterThan(0);
    expect(corrections.every((e: { corrects: string; usage_period_start: string }) => e.corrects === invoices.p1!.sep && e.usage_period_start === '2026-09-01T00:00:00.000Z')).toBe(true);
    const oct = (await call('GET', '/v1/invoices?status=draft')).json().invoices as Array<{ number: string; account: { project_id: string }; period_start: string }>;
    expect(oct.map((i) => i.period_start)).toEqual(['2026-10-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z']);
    for (const i of oct) invoices[i.account.project_id]!.oct = i.number;
  });

  it('late October samples before issue re-draft October; October is issued (two issues at once: one wins); every total is right to the cent', async () => {
    await send([{ project: 'p3', at: day(10, 5, 9), gb: '10' }]);
    await drainLateData();
    const [a, b] = await Promise.all([call('POST', `/v1/invoices/${invoices.p1!.oct}/issue`), call('POST', `/v1/invoices/${invoices.p1!.oct}/issue`)]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409]);
    for (const p of ['p2', 'p3']) {
      const res = await call('POST', `/v1/invoices/${invoices[p]!.oct}/issue`);
      expect(res.statusCode, res.body).toBe(200);
    }

    const all = expectedCents(sent);
    const issued = (await call('GET', '/v1/invoices?status=issued')).json().invoices as Array<{ number: string; account: { project_id: string }; period_start: string; total: string; lines: Array<{ amount: string }>; entries: Array<{ amount: string; corrects?: string; period_start?: string }> }>;
    expect(issued).toHaveLength(6);
    for (const inv of issued) {
      const p = inv.account.project_id;
      if (inv.period_start.startsWith('2026-09')) {
        expect(inv.total).toBe(euros(onTimeSepCents.get(`${p}|2026-09`)!));
        continue;
      }
      // October: all of October's usage on its own line, plus September's late usage as corrections naming September's invoice
      expect(inv.lines).toHaveLength(1);
      expect(inv.lines[0]!.amount).toBe(euros(all.get(`${p}|2026-10`)!));
      const corr = inv.entries.filter((e) => e.corrects);
      expect(corr.every((e) => e.corrects === invoices[p]!.sep && e.period_start === '2026-09-01T00:00:00.000Z')).toBe(true);
      const corrCents = corr.reduce((s, e) => s + Math.round(Number(e.amount) * 100), 0);
      expect(corrCents).toBe(all.get(`${p}|2026-09`)! - onTimeSepCents.get(`${p}|2026-09`)!);
    }
    const billedCents = issued.reduce((s, i) => s + Math.round(Number(i.total) * 100), 0);
    const expectedTotal = sumCents(all, () => true);
    expect(euros(billedCents)).toBe(euros(expectedTotal));

    // the ledger agrees and nothing waits for a next invoice; the reconciliation from the raw samples shows no difference
    const ledger = (await call('GET', '/v1/ledger')).json().accounts as Array<{ totals: { issued: string; pending: string } }>;
    expect(euros(ledger.reduce((s, a) => s + Math.round(Number(a.totals.issued) * 100), 0))).toBe(euros(expectedTotal));
    expect(ledger.every((a) => a.totals.pending === '0.00')).toBe(true);
    const rec = (await call('GET', '/v1/ledger/reconciliation?from=2026-09-01&to=2026-11-01')).json();
    expect(rec.totals).toEqual({ recomputed: euros(expectedTotal), billed: euros(expectedTotal), difference: '0.00', currency: 'EUR' });
    expect(rec.rows.every((r: { difference: string }) => r.difference === '0.00')).toBe(true);
    // a tenant sees only its own ledger, and cannot start a reconciliation (it reads every raw sample)
    expect((await call('GET', '/v1/ledger', TENANT_P2)).json().accounts.map((a: { account: string }) => a.account)).toEqual(['project:p2']);
    expect((await call('GET', '/v1/ledger?project_id=p1', TENANT_P2)).statusCode).toBe(403);
    expect((await call('GET', '/v1/ledger/reconciliation?from=2026-09-01&to=2026-11-01', TENANT_P2)).statusCode).toBe(403);
    console.log(`[billing-scenario] ${sent.length} samples; billed ${euros(billedCents)} EUR on 6 issued invoices; independent ${euros(expectedTotal)} EUR; reconciliation ${JSON.stringify(rec.totals)}`);
    for (const r of rec.rows) console.log(`[billing-scenario] ${r.project_id} ${r.period_start.slice(0, 7)} recomputed ${r.recomputed} invoiced ${r.invoiced} corrections ${r.corrections} difference ${r.difference} (${r.invoice} ${r.status})`);
  });

  it('a worker process killed mid-job (after writing its run, before the switch) changes nothing anyone reads; the retry converges and the money is unchanged', async () => {
    const usage = async () => {
      const u = (await call('GET', '/v1/usage?from=2026-09-01&to=2026-10-01')).json();
      return { docs: u.count as number, billable: (u.billable as Array<{ project_id: string; quantity: string }>).map((b) => `${b.project_id}:${b.quantity}`).sort().join(',') };
    };
    const before = await usage();
    const child = spawn('node', ['--import', 'tsx', path.join(REPO, 'test/rating/support/killable-mediation.ts'), mongoUri(), iso.dbName(), '2026-09-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO }); // one process (tsx as a loader), so SIGKILL kills the worker itself
    killAfter = () => child.kill('SIGKILL');
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the worker did not write its run in time: ${err}`)), 90_000);
      child.stdout.on('data', (b: Buffer) => b.toString().includes('written') && (clearTimeout(timer), resolve()));
      child.on('exit', (code) => reject(new Error(`the worker exited (${code}) before writing: ${err}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await usage()).toEqual(before); // the previous result, whole
    expect(await app.services.db.collection('usage').countDocuments({ period_start: { $gte: day(9, 1, 0), $lt: day(10, 1, 0) } })).toBeGreaterThan(before.docs); // the dead run's orphans, unread

    // the retry waits for the dead worker's lease to expire, then converges: same usage, orphans gone, nothing to correct
    expect((await call('POST', '/v1/jobs/mediation', ADMIN, { from: '2026-09-01', to: '2026-10-01' })).statusCode).toBe(202);
    await idle();
    expect(await usage()).toEqual(before);
    expect(await app.services.db.collection('usage').countDocuments({ period_start: { $gte: day(9, 1, 0), $lt: day(10, 1, 0) } })).toBe(before.docs);
    const total = euros(sumCents(expectedCents(sent), () => true));
    expect((await call('GET', '/v1/ledger/reconciliation?from=2026-09-01&to=2026-11-01')).json().totals).toEqual({ recomputed: total, billed: total, difference: '0.00', currency: 'EUR' });
    expect((await call('GET', '/v1/ledger')).json().accounts.every((a: { totals: { pending: string } }) => a.totals.pending === '0.00')).toBe(true);
  }, 180_000);

  it('the operator\'s commands say the same: `metering ledger` and `metering reconcile` (exit 0, difference 0.00)', () => {
    const cfg = path.join(dir, 'metering.yaml');
    writeFileSync(cfg, `store:\n  database: ${iso.dbName()}\nrating:\n  plan: ${planFile}\n`);
    const cli = (...args: string[]) => spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), '--config', cfg, ...args], { encoding: 'utf8', env: { ...process.env, ...servicesEnv() } });
    const rec = cli('reconcile', '--from', '2026-09-01', '--to', '2026-11-01');
    expect(rec.status, rec.stderr).toBe(0);
    const total = euros(sumCents(expectedCents(sent), () => true));
    expect(rec.stdout).toContain(`${sent.length} samples; recomputed ${total}, billed ${total}, difference 0.00 EUR`);
    const ledger = cli('ledger', '--project', 'p1');
    expect(ledger.status, ledger.stderr).toBe(0);
    expect(ledger.stdout).toMatch(/^project:p1 {2}issued \d+\.\d{2} {2}drafts 0\.00 {2}pending 0\.00 EUR$/m);
    const p1Late = euros(expectedCents(sent).get('p1|2026-09')! - onTimeSepCents.get('p1|2026-09')!);
    expect(ledger.stdout).toMatch(new RegExp(`correction +2026-09-01 → 2026-10-01 +${p1Late.replace('.', '\\.')} +correction of ${invoices.p1!.sep}`));
  });
});
