import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { mean } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/paths';
import { polledRows, rowsOf, trace } from './helpers';

const run = promisify(execFile);
const bin = path.join(REPO, 'bin', 'metering.mjs');

describe('metering profile / predict CLI', () => {
  it('profile --json prints {"vms":[{vm, resources:{cpu:{avg,window,samples},memory:{…},…}}]}', async () => {
    const { stdout } = await run('node', [bin, 'profile', trace('27'), trace('265'), '--window', '6', '--json'], { cwd: REPO });
    const out = JSON.parse(stdout);
    expect(Object.keys(out)).toEqual(['vms']);
    expect(out.vms.map((v: { vm: string }) => v.vm)).toEqual(['27', '265']);
    for (const v of out.vms) {
      expect(Object.keys(v)).toEqual(['vm', 'resources']);
      for (const r of Object.values(v.resources) as { avg: number; window: number; samples: number }[]) {
        expect(Object.keys(r)).toEqual(['avg', 'window', 'samples']);
      }
      const rows = polledRows(rowsOf(v.vm));
      const last = rows.slice(-6);
      expect(v.resources.cpu).toEqual({ avg: expect.closeTo(mean(last.map((r) => r.cpu_usage_pct)), 9), window: 6, samples: rows.length });
      expect(v.resources.memory.avg).toBeCloseTo(mean(last.map((r) => (r.memory_usage_kb / r.memory_capacity_kb) * 100)), 9);
    }
  });

  it('profile without --json ranks most free CPU first; bad input is one clear error line', async () => {
    const { stdout } = await run('node', [bin, 'profile', trace('27'), trace('41')], { cwd: REPO });
    const lines = stdout.split('\n');
    const first = lines.findIndex((l) => l.startsWith('VM'));
    expect(lines[first + 1]).toMatch(/^27 /); // 32 vCPUs at ~4 % beat 8 vCPUs above 100 %
    const err = await run('node', [bin, 'profile', '/nonexistent/9.csv']).catch((e: { stderr: string; code: number }) => e);
    expect(err).toMatchObject({ code: 2, stderr: 'metering: /nonexistent/9.csv: no such trace file\n' });
  });

  it('predict --json gives shards, placement within caps and an explanation', async () => {
    const { stdout } = await run(
      'node',
      [bin, 'predict', '--profiles', trace('27'), '--bytes-per-day', '1e8', '--events-per-second', '10', '--query-ms', '5000', '--query-rate', '0.01', '--json'],
      { cwd: REPO },
    );
    const rec = JSON.parse(stdout);
    expect(rec).toMatchObject({ feasible: true, shards: 1, replicas: 1, binding: 'none' });
    expect(rec.placement[0].extra_cpu_pp).toBeLessThanOrEqual(15);
    expect(rec.placement[0].extra_memory_pp).toBeLessThanOrEqual(10);
    expect(rec.explanation.length).toBeGreaterThan(0);
  });
});
