import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { benchResultsOf, calibrate, loadCalibration } from '../../profiler/calibration';
import { REPO } from '../support/paths';
import { trace } from './helpers';

const run = promisify(execFile);
const bin = path.join(REPO, 'bin', 'metering.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'profiler-calibration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const shipped = loadCalibration();

describe('calibration from benchmark output files', () => {
  it('reads the ingestion benchmark output: throughput per mongod core and base memory; mediation stays provisional', () => {
    const results = benchResultsOf({ benchmark: 'ingest', samples_per_s: 30000, mongod_cores: 1.5, mongod_rss_bytes: 500 * 2 ** 20, wiredtiger_cache_bytes: 256 * 2 ** 20, batches: 12 }, 'out/bench/ingest.json');
    expect(results).toEqual({ ingest: { samples_per_s: 30000, cores: 1.5 }, mongod_rss_bytes: 500 * 2 ** 20, wiredtiger_cache_bytes: 256 * 2 ** 20 });
    const c = calibrate(results, 'bench ingest, 2 cores', shipped, new Date('2024-05-01T00:00:00Z'));
    expect(c.ingest_samples_per_s_per_core).toBe(20000);
    expect(c.mongod_base_rss_mb).toBe(244);
    expect(c.mediation_samples_per_s_per_core).toBe(shipped.mediation_samples_per_s_per_core);
    expect(c.measured).toEqual({ ingest: '2024-05-01T00:00:00.000Z', memory: '2024-05-01T00:00:00.000Z' });
    expect(c.measured_at).toBeNull();
    expect(c.source).toMatch(/still provisional: mediation/);
    // a later mediation run completes the calibration
    const full = calibrate(benchResultsOf({ samples_per_s: 900000, cores: 3 }, 'out/bench/mediation.json'), 'bench mediation', c, new Date('2024-05-02T00:00:00Z'));
    expect(full.measured_at).toBe('2024-05-02T00:00:00.000Z');
    expect(full.ingest_samples_per_s_per_core).toBe(20000);
  });

  it('names what is missing: the benchmark kind, the core count', () => {
    expect(() => benchResultsOf({ samples_per_s: 10 }, 'results.json')).toThrow(/results\.json: benchmark: say which benchmark/);
    expect(() => benchResultsOf({ benchmark: 'ingest', samples_per_s: 10 }, 'x.json')).toThrow(/x\.json: mongod_cores: required/);
    expect(benchResultsOf({ benchmark: 'ingest', samples_per_s: 10 }, 'x.json', 2).ingest).toEqual({ samples_per_s: 10, cores: 2 });
    expect(() => benchResultsOf({ benchmark: 'ingest', samples_per_s: -1, cores: 1 }, 'x.json')).toThrow(/x\.json: samples_per_s/);
  });

  it('predict-calibrate writes the calibration from out/bench/ingest.json with --cores', async () => {
    const file = path.join(dir, 'ingest.json');
    writeFileSync(file, JSON.stringify({ samples_per_s: 24000 }));
    const out = path.join(dir, 'calibration.json');
    await run('node', [bin, 'predict-calibrate', file, '--cores', '2', '--source', 'test run', '--out', out], { cwd: REPO });
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.ingest_samples_per_s_per_core).toBe(12000);
    expect(written.measured_at).toBeNull();
    expect(written.measured.ingest).toMatch(/^\d{4}-/);
  });
});

describe('profile / predict honour -c/--config', () => {
  it('takes the window and the predictor caps from the configuration file', async () => {
    const cfg = path.join(dir, 'metering.yaml');
    writeFileSync(cfg, 'profiler:\n  window: 3\n  caps:\n    memory_pp: 0.01\n');
    const prof = JSON.parse((await run('node', [bin, '-c', cfg, 'profile', trace('27'), '--json'], { cwd: REPO })).stdout);
    expect(prof.vms[0].resources.cpu.window).toBe(3);
    const args = ['predict', '--profiles', trace('27'), '--bytes-per-day', '1e8', '--events-per-second', '10', '--query-ms', '5000', '--query-rate', '0.01', '--json'];
    const rec = JSON.parse((await run('node', [bin, '--config', cfg, ...args], { cwd: REPO })).stdout);
    expect(rec.feasible).toBe(false);
    expect(rec.explanation.join(' ')).toMatch(/\+0\.01 pp memory/);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'profiler:\n  window: -1\n');
    const err = await run('node', [bin, '-c', bad, 'profile', trace('27')], { cwd: REPO }).catch((e: { stderr: string; code: number }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/bad\.yaml:2.*profiler\.window/);
  });
});
