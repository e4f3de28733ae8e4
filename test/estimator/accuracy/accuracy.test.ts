import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureAccuracy, pollingAt, type AccuracyReport } from '../../../estimator/accuracy/measure';
import { writeAccuracyReport } from '../../../estimator/accuracy/report';
import { estimateStack } from '../../../estimator/estimate';
import { connect, testIngestConfig, testStoreConfig } from '../../pipeline/ingest/helpers';
import { isolation } from '../../support/isolation';
import { mongoTier } from '../../support/services';
import { CEILOMETER_DEFAULT_SECRET } from '../../../pipeline/replay/encode';
import { HOT } from '../helpers';

/**
 * The measured accuracy check on real corpus templates, end to end through the ingestion path into
 * this run's MongoDB: a whole simulated day at hourly polling (every sample generated and stored),
 * observed sizes from a warm-up stack. Kept to two small templates so it runs in a few seconds.
 */

const iso = isolation(import.meta.url);
const TEMPLATES = [HOT('hot/hello_world.yaml'), HOT('hot/vm_with_cinder.yaml')];
const dir = mkdtempSync(path.join(tmpdir(), 'accuracy-'));

let client: MongoClient;
let report: AccuracyReport;

beforeAll(async () => {
  client = await connect();
  report = await measureAccuracy({
    client,
    dbPrefix: iso.dbName().slice(0, 40),
    store: testStoreConfig('unused'),
    ingest: testIngestConfig({ telemetrySecret: CEILOMETER_DEFAULT_SECRET, signaturePolicy: 'reject' }),
    templates: TEMPLATES.map((file) => ({ file })),
    periods: ['day', 'week'],
    intervals: { day: 3600, week: 3 * 3600, month: 3600 },
  });
});

afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('estimate vs actual, measured through ingestion', () => {
  it('stores exactly the estimated number of events for every template and period', () => {
    expect(report.cases).toHaveLength(4);
    for (const c of report.cases) {
      // the generator's count, independent of the estimate: series × polls in the period
      const e = estimateStack({ template: { text: readFileSync(c.template, 'utf8'), file: c.template }, pollingConfig: pollingAt(c.interval_s) });
      expect(c.events.actual).toBe(e.meters.reduce((a, m) => a + m.resources * Math.ceil(c.period_s / c.interval_s), 0));
      expect(c.events.accuracy).toBe(1);
    }
  });

  it('predicts the stored bytes to at least 99.5 % with observed sizes (paper method), per case and overall', () => {
    for (const c of report.cases) {
      expect(c.observed_meters, `${c.template} ${c.period}`).toBeGreaterThan(0);
      expect(c.prior_meters).toBe(0);
      expect(c.bytes.accuracy, `${path.basename(c.template)} ${c.period}`).toBeGreaterThanOrEqual(0.995);
    }
    expect(report.overall.bytes.accuracy).toBeGreaterThanOrEqual(0.995);
    expect(report.met).toBe(true);
    // observed sizes beat the priors on these templates
    expect(report.overall.bytes.accuracy).toBeGreaterThan(report.overall.bytes_priors.accuracy);
  });

  it('measures actual bytes from the store: BSON sizes of the documents, and collStats size where the server has it', () => {
    for (const c of report.cases) {
      expect(c.stored.bson_sum).toBeGreaterThan(c.events.actual * 400);
      if (mongoTier() === 'real') expect(c.bytes.actual).toBe(c.stored.coll_size);
      else expect(c.bytes.actual).toBe(c.stored.bson_sum);
    }
    expect(report.tier).toBe(mongoTier());
  });

  it('writes the JSON, markdown and SVG report', () => {
    const files = writeAccuracyReport(report, dir);
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.overall.bytes.accuracy).toBe(report.overall.bytes.accuracy);
    const md = readFileSync(files.markdown, 'utf8');
    expect(md).toContain('| hello_world.yaml | day | 3600 |');
    expect(md).toMatch(/\*\*met\*\*/);
    const svg = readFileSync(files.svg, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('vm_with_cinder week');
    expect((svg.match(/<rect x=/g) ?? []).length).toBeGreaterThanOrEqual(12);
  });

  it('refuses a case that would exceed the sample limit instead of extrapolating', async () => {
    await expect(
      measureAccuracy({
        client,
        dbPrefix: iso.dbName('big').slice(0, 40),
        store: testStoreConfig('unused'),
        ingest: testIngestConfig(),
        templates: [{ file: HOT('hot/asg_of_servers.yaml') }],
        periods: ['month'],
        intervals: { day: 300, week: 300, month: 300 },
        maxEvents: 100_000,
      }),
    ).rejects.toThrow(/asg_of_servers\.yaml: 311,040 samples for a month at 300 s polling exceeds --max-events 100,000/);
  });
});
