import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/paths';

const fixture = (f: string) => path.join(REPO, 'test/rating/fixtures', f);
function metering(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin/metering.mjs'), ...args], { encoding: 'utf8', cwd: REPO });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('metering rate', () => {
  it('prints line items and totals per project as JSON and warns about unrated usage', () => {
    const r = metering('rate', '--plan', fixture('plan.yaml'), '--usage', fixture('usage.json'), '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { projects: { project_id: string; total: string; currency: string; lines: { meter: string; amount: string }[] }[] };
    expect(out.projects.map((p) => [p.project_id, p.total, p.currency])).toEqual([
      ['acme', '15.25', 'EUR'],
      // Jan: cpu (120 h − 10 free) × 0.021 = 2.31, storage 100 × 0.10 + 50 × 0.05 = 12.50,
      // requests 1500 × 0.001 = 1.50, egress 3 packages × 4 = 12.00, instance flat 5.00;
      // Mar (new version): 110 × 0.018 = 1.98
      ['demo', '35.29', 'EUR'],
    ]);
    expect(out.projects[1]!.lines.map((l) => [l.meter, l.amount])).toEqual([
      ['cpu_hours', '2.31'], ['gb_month', '12.50'], ['requests', '1.50'], ['egress_gb', '12.00'], ['instance', '5.00'], ['cpu_hours', '1.98'],
    ]);
    expect(r.stderr).toContain('warning: unrated usage: acme image.size 1024');
  });

  it('prints a readable table by default and exits 3 with --strict when usage is unrated', () => {
    const r = metering('rate', '--plan', fixture('plan.yaml'), '--usage', fixture('usage.json'), '--strict');
    expect(r.stdout).toMatch(/project demo\n {2}period +plan +meter/);
    expect(r.stdout).toMatch(/total +35\.29 EUR/);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('metering: 1 usage record(s) unrated');
  });

  it('exits 2 naming file:line:key for an invalid plan', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rate-cli-'));
    const plan = path.join(dir, 'plan.yaml');
    writeFileSync(plan, 'currency: EUR\nplans:\n  - id: p\n    projects: ["*"]\n    effective_from: 2026-01-01\n    charges:\n      - {meter: a, model: package, package_size: 0, package_price: "1"}\n');
    const r = metering('rate', '--plan', plan, '--usage', fixture('usage.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${plan}:7: plans[0].charges[0].package_size: must be greater than zero`);
    expect(r.stdout).toBe('');
  });
});
