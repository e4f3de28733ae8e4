import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIngestTable, runIngestBench } from '../../../bench/ingest';
import { benchResultsOf } from '../../../profiler/calibration';
import { mongoTier } from '../../support/services';
import { sharedPath } from '../../support/paths';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-ingest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench ingest (smoke run, no speed assertions)', () => {
  it('stores every sample on each path, names the tier, and writes results the profiler calibration reads', async () => {
    const out = path.join(dir, 'ingest.json');
    const r = await runIngestBench({ samples: 600, clients: 2, batch: 200, kafka: false, traces: sharedPath('data', 'traces', 'bitbrains-rnd'), out });
    expect(r.mongoTier).toBe(mongoTier());
    expect(r.raw.samples).toBe(600);
    expect(r.http.samples).toBe(600);
    expect(r.http.ratio_to_raw).toBeCloseTo(r.http.samples_per_s / r.raw.samples_per_s, 2);
    expect(r.peak_rss_mib).toBeGreaterThan(0);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written).toEqual(JSON.parse(JSON.stringify(r)));
    expect(benchResultsOf(written, out)).toMatchObject({ ingest: { samples_per_s: r.samples_per_s, cores: os.cpus().length } });
    expect(formatIngestTable(r)).toMatch(new RegExp(`MongoDB tier: ${r.mongoTier}`));
  });
});
