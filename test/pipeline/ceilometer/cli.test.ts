import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../support/paths';
import { forms } from './fixtures';

const f = forms();

function metering(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin/metering.mjs'), ...args], {
    cwd: REPO,
    input,
    encoding: 'utf8',
    env: { ...process.env, METERING_TELEMETRY_SECRET: '' },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lines = (s: string): unknown[] => s.trim().split('\n').map((l) => JSON.parse(l) as unknown);

describe('metering sample verify / sign', () => {
  it('verify: one line per message, exit 0 when all valid, 1 when one is tampered (JSON lines on stdin)', () => {
    const ids = f.kafka_values.map((v) => (JSON.parse(v) as { message_id: string }).message_id);
    const tampered = f.kafka_values[2]!.replace('"counter_volume": 1.0', '"counter_volume": 1');
    expect(tampered).not.toBe(f.kafka_values[2]);
    const ok = metering(['sample', 'verify', '--secret', f.secret, '-'], f.kafka_values.join('\n') + '\n');
    expect(ok.code).toBe(0);
    expect(lines(ok.stdout)).toEqual(ids.map((id, index) => ({ index, message_id: id, valid: true })));

    const bad = metering(['sample', 'verify', '--secret', f.secret], [f.kafka_values[0], f.kafka_values[1], tampered].join('\n'));
    expect(bad.code).toBe(1);
    const out = lines(bad.stdout) as { index: number; valid: boolean; reason?: string }[];
    expect(out.map((l) => l.valid)).toEqual([true, true, false]);
    expect(out[2]!.reason).toMatch(/^message_signature: does not match/);
  }, 60_000);

  it('sign then verify round-trips, keeping float literals; a JSON array file works too', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ceilo-cli-'));
    const file = path.join(dir, 'body.json');
    writeFileSync(file, f.http_body); // as_dict() items: converted to counter_* and signed
    const signed = metering(['sample', 'sign', '--secret', 'k2', file]);
    expect(signed.code).toBe(0);
    const signedLines = signed.stdout.trim().split('\n');
    expect(signedLines).toHaveLength(3);
    expect(signedLines[2]).toContain('"counter_volume": 1.0');
    expect(signedLines[0]).toContain('"monotonic_time": 812.33');
    const verified = metering(['sample', 'verify', '--secret', 'k2'], `[${signedLines.join(',')}]`);
    expect(verified.code).toBe(0);
    expect((lines(verified.stdout) as { valid: boolean }[]).every((l) => l.valid)).toBe(true);
  }, 60_000);

  it('malformed or unreadable input: exit 2 with one clear line', () => {
    const bad = metering(['sample', 'verify', '--secret', 's'], '{"a": 1}\n{"b": }\n');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('metering: stdin: line 2: invalid JSON at line 1 column 7: unexpected "}"');
    const missing = metering(['sample', 'verify', '--secret', 's', '/nonexistent/x.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('metering: cannot read /nonexistent/x.json: ENOENT');
    expect(bad.stdout).toBe('');
  }, 60_000);
});
