import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/paths';
import { CEILO, HOT } from './helpers';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [path.join(REPO, 'bin/metering.mjs'), ...args], { cwd: REPO }).then(
  (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
  (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
);

describe('metering estimate', () => {
  it('--json with --param and a legacy --polling file', async () => {
    const r = await cli('estimate', HOT('hot/resource_group/server_with_volumes.yaml'), '--param', 'num_volumes=3', '--polling', CEILO('_tag-7.0.0/etc/ceilometer/pipeline.yaml'), '--json');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.resources['OS::Cinder::Volume']).toBe(3);
    expect(Object.keys(e)).toEqual(expect.arrayContaining(['resources', 'meters', 'events', 'avg_event_bytes', 'bytes', 'warnings']));
    expect(e.events).toMatchObject({ interval_s: 600 });
    expect(Object.keys(e.bytes)).toEqual(['per_day', 'per_week', 'per_month']);
    expect(e.meters.find((m: { name: string }) => m.name === 'disk.device.read.bytes')).toMatchObject({ resources: 4, interval_s: 600, events_per_day: 4 * 144 });
    expect(e.plan).toBeUndefined();
  }, 30_000);

  it('malformed template: exit 1 with file:line', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'est-'));
    const f = path.join(dir, 'bad.yaml');
    writeFileSync(f, 'heat_template_version: 2016-10-14\nresources:\n  s: {type: OS::Nova::Server\n  t: [\n');
    const r = await cli('estimate', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^metering: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: YAML syntax error`));
  }, 30_000);
});
