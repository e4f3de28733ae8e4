import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main';
import { REPO } from '../support/paths';
import { asDict, at, host, vm } from './helpers';

const dir = mkdtempSync(path.join(tmpdir(), 'license-cli-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
/** The real binary (one test: the exact --json output and exit code of `metering license check`). */
function spawned(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin/metering.mjs'), ...args], { encoding: 'utf8', cwd: REPO });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same command line run in this process (the machine is shared: one tsx start per test is too slow). */
async function metering(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await main(['node', 'metering', ...args]);
    return { code: process.exitCode ?? 0, stdout, stderr };
  } finally {
    process.exitCode = before;
    out.mockRestore();
    err.mockRestore();
  }
}

const licenses = file(
  'licenses.yaml',
  `licenses:
  - id: ora-fin                 # unique
    product: oracle-db
    match:
      project_id: p-fin
    cores: 16
    cores_per_instance: 8
    architecture: x86_64
    cpu_models: ["Intel(R) Xeon(R) Gold*"]
    valid_from: 2026-01-01
    valid_to: 2027-01-01
  - id: ora-any
    product: oracle-db
    cores: 2
    valid_from: 2025-01-01
    valid_to: 2026-01-01
`,
);
const samples = file(
  'samples.json',
  JSON.stringify(
    [
      vm('fin-a', 0, { product: 'oracle-db', vcpus: 12, host: 'cmp-1' }),
      vm('fin-b', -300, { product: 'oracle-db', flavorVcpus: 8, host: 'cmp-2' }),
      vm('fin-b', 600, { product: 'oracle-db', flavorVcpus: 2, host: 'cmp-2' }), // after --at
      host('cmp-1', -60, { cpu_model: 'AMD EPYC 7543', architecture: 'x86_64', cpu_cores: 64 }),
      vm('hr-a', -120, { product: 'oracle-db', vcpus: 2, project: 'p-hr' }),
      vm('web-1', 0, { product: 'nginx-plus', vcpus: 2, project: 'p-web' }),
    ].map(asDict),
    null,
    1,
  ),
);

describe('metering license check', () => {
  it('prints exactly {at, violations, licenses, unverified} with --json and exits 0 although it found violations', () => {
    const r = spawned('license', 'check', '--licenses', licenses, '--samples', samples, '--at', at(0).toISOString(), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      at: at(0).toISOString(),
      violations: [
        { license_id: 'ora-fin', resource_id: 'fin-a', kind: 'instance-cores-exceeded', assigned: 8, actual: 12 },
        { license_id: 'ora-fin', resource_id: 'fin-a', kind: 'cpu-model-mismatch', assigned: ['Intel(R) Xeon(R) Gold*'], actual: 'AMD EPYC 7543' },
        { license_id: 'ora-fin', resource_id: null, kind: 'cores-exceeded', assigned: 16, actual: 20 },
        { license_id: 'ora-any', resource_id: 'hr-a', kind: 'expired', assigned: ['2025-01-01', '2026-01-01'], actual: at(0).toISOString() },
        { license_id: null, resource_id: 'web-1', kind: 'unlicensed', assigned: null, actual: 'nginx-plus' },
      ],
      licenses: [
        { id: 'ora-fin', status: 'violation', instances: ['fin-a', 'fin-b'], cores_used: 20 },
        { id: 'ora-any', status: 'expired', instances: ['hr-a'], cores_used: 2 },
      ],
      unverified: [{ resource_id: 'fin-b', license_id: 'ora-fin' }],
    });
  });

  it('defaults T to the newest sample and takes --active-window', async () => {
    const r = JSON.parse((await metering('license', 'check', '--licenses', licenses, '--samples', samples, '--json')).stdout);
    expect(r.at).toBe(at(600).toISOString());
    expect(r.licenses[0]).toEqual({ id: 'ora-fin', status: 'violation', instances: ['fin-a', 'fin-b'], cores_used: 14 });
    const narrow = JSON.parse((await metering('license', 'check', '--licenses', licenses, '--samples', samples, '--active-window', '300', '--json')).stdout);
    expect(narrow.licenses[0]).toEqual({ id: 'ora-fin', status: 'compliant', instances: ['fin-b'], cores_used: 2 });
    expect(narrow.unverified).toEqual([{ resource_id: 'fin-b', license_id: 'ora-fin' }]);
  });

  it('prints a readable summary without --json', async () => {
    const r = await metering('license', 'check', '--licenses', licenses, '--samples', samples, '--at', at(0).toISOString());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ora-fin +violation +20 +fin-a, fin-b/);
    expect(r.stdout).toContain('cores-exceeded: licence ora-fin: assigned 16, actual 20');
    expect(r.stdout).toContain('fin-b under ora-fin: no sample of host cmp-2 at or before T');
  });

  it('exits 2 on bad input, naming file:line of every problem in both files', async () => {
    const badLicenses = file('bad.yaml', 'licenses:\n  - id: a\n    product: oracle-db\n    cores: 4\n    valid_from: 2026-02-01\n    valid_to: 2026-01-01\n  - id: a\n    product: oracle-db\n    cores: four\n');
    const items = [asDict(vm('x', 0, { vcpus: 1 })), { ...asDict(vm('y', 0)), timestamp: 'noon' }];
    const badSamples = file('bad.json', `[\n${items.map((i) => JSON.stringify(i)).join(',\n')}\n]\n`);
    const r = await metering('license', 'check', '--licenses', badLicenses, '--samples', badSamples, '--json');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${badLicenses}:6: licenses[0].valid_to: must be after valid_from (2026-02-01)`);
    expect(r.stderr).toContain(`${badLicenses}:7: licenses[1].id: duplicate licence id "a"`);
    expect(r.stderr).toMatch(new RegExp(`${badLicenses.replace(/[.]/g, '\\.')}:9: licenses\\[1\\]\\.cores: .*number`));
    expect(r.stderr).toMatch(new RegExp(`${badSamples.replace(/[.]/g, '\\.')}:3: samples\\[1\\]: timestamp: `));
    const syntax = await metering('license', 'check', '--licenses', licenses, '--samples', file('syntax.json', '[\n {"a": 1},\n {"b" 2}\n]'));
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/syntax\.json:3: invalid JSON/);
    expect((await metering('license', 'check', '--licenses', licenses, '--samples', samples, '--at', 'tomorrow')).code).toBe(2);
    expect((await metering('license', 'check', '--licenses', licenses, '--samples', path.join(dir, 'missing.json'))).stderr).toMatch(/missing\.json:0: cannot read file: no such file/);
  });
});

describe('metering license report', () => {
  it('writes the HTML report with the chart and the samples it rests on; JSON and CSV name them too', async () => {
    const out = path.join(dir, 'out', 'report.html');
    const r = await metering('license', 'report', '--licenses', licenses, '--samples', samples, '--at', at(0).toISOString(), '--format', 'html', '--hours', '0.1', '--points', '5', '--out', out);
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('ora-fin used');
    expect(html).toContain('cpu-model-mismatch');
    const json = JSON.parse((await metering('license', 'report', '--licenses', licenses, '--samples', samples, '--at', at(0).toISOString(), '--hours', '0.1', '--points', '5')).stdout);
    expect(json.series.points).toHaveLength(5);
    expect(json.series.licenses.find((l: { id: string }) => l.id === 'ora-fin').cores_used).toEqual([0, 8, 8, 8, 20]); // points 90 s apart from T − 360 s: fin-b (8) from T − 300 s, fin-a (12) at T
    expect(json.samples.every((s: { timestamp: string }) => s.timestamp <= at(0).toISOString())).toBe(true);
    expect(json.source).toEqual({ licenses: `file:${licenses}`, samples: `file:${samples}` });
    const csv = (await metering('license', 'report', '--licenses', licenses, '--samples', samples, '--at', at(0).toISOString(), '--format', 'csv')).stdout;
    expect(csv.split('\n')[0]).toMatch(/^finding,license_id,resource_id/);
    expect(csv).toMatch(/^unlicensed,,web-1,,nginx-plus,nginx-plus,p-web,2,/m);
    expect((await metering('license', 'report', '--samples', samples)).code).toBe(2);
  });
});
