import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { meteringConfig } from '../../../app/config';
import { readPreferenceFor, readRoutingConfig, readsThatMove, tolerantDb } from '../../../pipeline/store/read-options';
import { readUsage, runMediationInNode } from '../../../billing/mediation/runner';
import { mediationOptions } from '../../../billing/mediation/options';
import { series } from '../../rating/samples';
import { processInvoice, processReport } from '../../../billing/jobs/processors';
import { checkMergeOn, assertMergeTarget, MergeTargetError } from '../../../billing/mediation/merge-target';
import { isolation } from '../../support/isolation';
import { mongoTier, mongoUri } from '../../support/services';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

const iso = isolation(import.meta.url);

describe('read routing (store.reads)', () => {
  it('by default reports and estimator lookups read secondaryPreferred with maxStalenessSeconds 90; mediation stays on the primary unless configured', () => {
    const cfg = readRoutingConfig.parse(undefined);
    for (const site of ['reports', 'estimator'] as const) {
      const rp = readPreferenceFor(cfg, site);
      expect(rp.mode).toBe('secondaryPreferred');
      expect(rp.maxStalenessSeconds).toBe(90);
    }
    expect(readPreferenceFor(cfg, 'mediation').mode).toBe('primary');
    expect(readPreferenceFor({ ...cfg, mediation: true, maxStalenessSeconds: 120 }, 'mediation')).toMatchObject({ mode: 'secondaryPreferred', maxStalenessSeconds: 120 });
    const moves = readsThatMove(cfg);
    expect(moves.summary).toMatch(/^reads that move to the new secondaries \(secondaryPreferred, maxStalenessSeconds 90\): usage reports .*estimator lookups/);
    expect(moves.stays.join('; ')).toMatch(/mediation.*billing reads \(read concern majority, primary\)/);
  });

  it('tolerant: primary moves no read, and the decision text says an added secondary relieves nothing', () => {
    const cfg = readRoutingConfig.parse({ tolerant: 'primary' });
    expect(readPreferenceFor(cfg, 'reports').mode).toBe('primary');
    expect(readsThatMove(cfg).moves).toEqual([]);
    expect(readsThatMove(cfg).summary).toMatch(/no read moves.*relieves no read load/);
  });

  it('a staleness bound below what MongoDB accepts is refused naming the key', () => {
    const r = meteringConfig.safeParse({ store: { reads: { maxStalenessSeconds: 30 } } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues.map((i) => i.path.join('.')))).toContain('store.reads.maxStalenessSeconds');
    expect(meteringConfig.safeParse({ store: { reads: { tolerant: 'fastest' } } }).success).toBe(false);
  });

  describe('on the run\'s MongoDB', () => {
    let client: MongoClient;
    const sent: CommandStartedEvent[] = [];
    const db = () => client.db(iso.dbName());
    beforeAll(async () => {
      client = new MongoClient(mongoUri(), { monitorCommands: true });
      await client.connect();
      client.on('commandStarted', (e) => sent.push(e));
      // usage as mediation writes it (under a run the range's pointer names: issue 11)
      await db().collection('meter').insertMany(series('2026-01-01T00:00:00Z', 3600, 12, (i) => 1e9 * i, { resource_id: 'r1', project_id: 'p1' }));
      await runMediationInNode(db(), mediationOptions({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z'), granularity: 'day', into: 'usage' }));
      await db().collection('rated').insertOne({ _id: 'l1' as never, project_id: 'p1', period_start_at: new Date('2026-01-01T00:00:00Z'), period_end_at: new Date('2026-01-02T00:00:00Z'), meter: 'cpu', quantity: 1, amount: '1.00', currency: 'EUR' });
    });
    afterAll(async () => {
      await db().dropDatabase().catch(() => undefined);
      await client.close();
    });

    it('billing reads (rating\'s usage read, the invoice\'s rated lines) ask for read concern majority on the wire', async () => {
      sent.length = 0;
      const docs = await readUsage(db(), { granularity: 'day', timezone: 'UTC', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z'), into: 'usage' });
      expect(docs).toHaveLength(1);
      const find = sent.find((e) => e.commandName === 'find' && e.command.find === 'usage');
      expect(find?.command.readConcern).toEqual({ level: 'majority' });
      sent.length = 0;
      await processInvoice({ db: db() }, { account: { project_id: 'p1' }, from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', currency: 'EUR' } as never, { progress: async () => undefined }).catch(() => undefined);
      const rated = sent.find((e) => e.commandName === 'find' && e.command.find === 'rated');
      expect(rated?.command.readConcern).toEqual({ level: 'majority' });
    });

    it('report jobs read through the tolerant handle: the documents come back and the read preference is the configured one', async () => {
      const cfg = readRoutingConfig.parse(undefined);
      const tdb = tolerantDb(db(), cfg, 'reports');
      expect(tdb.readPreference.mode).toBe('secondaryPreferred');
      expect(tdb.readPreference.maxStalenessSeconds).toBe(90);
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'w14-report-')), 'r.json');
      const r = await processReport({ db: db(), reads: cfg }, { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', granularity: 'day', timezone: 'UTC', format: 'json', out } as never, { progress: async () => undefined });
      expect(r.series).toBeGreaterThan(0);
      if (mongoTier() === 'real') {
        // a replica-set member or mongos gets the read preference with the staleness bound
        const find = sent.filter((e) => e.commandName === 'find' && e.command.find === 'usage').at(-1);
        if (find?.command.$readPreference) expect(find.command.$readPreference).toMatchObject({ mode: 'secondaryPreferred', maxStalenessSeconds: 90 });
      }
    });
  });
});

describe('$merge target check', () => {
  it('refuses a sharded usage whose shard key the on fields do not cover, naming collection, key and missing fields', () => {
    expect(() => checkMergeOn('ceilometer.usage', ['_id'], undefined)).not.toThrow();
    expect(() => checkMergeOn('ceilometer.usage', ['_id'], { _id: 'hashed' })).not.toThrow();
    expect(() => checkMergeOn('ceilometer.usage', ['_id'], { project_id: 1, period_start: 1 })).toThrow(MergeTargetError);
    expect(() => checkMergeOn('ceilometer.usage', ['_id'], { project_id: 1, period_start: 1 })).toThrow(
      /\$merge into ceilometer\.usage on \["_id"\] is not possible: ceilometer\.usage is sharded on \{"project_id":1,"period_start":1\} and the on fields lack "project_id", "period_start"/,
    );
  });

  it('an unsharded usage passes the check on the run\'s MongoDB (no catalogue entry)', async () => {
    const client = await new MongoClient(mongoUri()).connect();
    try {
      await expect(assertMergeTarget(client.db(iso.dbName('merge')), 'usage', ['_id'])).resolves.toBeUndefined();
    } finally {
      await client.close();
    }
  });
});
