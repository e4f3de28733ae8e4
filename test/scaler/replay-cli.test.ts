import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { observationToJson } from '../../scaler/metrics';
import { replayText } from '../../scaler/replay';
import { synthesize } from '../../scaler/synth';
import { REPO } from '../support/paths';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'scaler-replay-'));
const BIN = path.join(REPO, 'bin', 'metering.mjs');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd: REPO });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const toJsonl = (name: string, lines: unknown[]): string => {
  const f = path.join(dir, name);
  writeFileSync(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return f;
};

describe('metering scaler replay', () => {
  it('prints one JSON line per non-none decision, with t, action and reason', async () => {
    const s = synthesize({ scenario: 'sustained' });
    const f = toJsonl('sustained.jsonl', s.observations.map(observationToJson));
    const r = await cli(['scaler', 'replay', f]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ t: '2026-01-05T01:10:00.000Z', action: 'add-shard' });
    expect(typeof lines[0].reason).toBe('string');
  }, 30_000);

  it('--all prints every evaluation; --policy changes thresholds', async () => {
    const s = synthesize({ scenario: 'read-heavy' });
    const text = s.observations.map((o) => JSON.stringify(observationToJson(o))).join('\n');
    const all = replayText(text, 'x.jsonl', { all: true });
    expect(all).toHaveLength(new Set(s.observations.map((o) => o.t.getTime())).size);
    expect(all.filter((l) => l.action !== 'none').map((l) => l.action)).toEqual(['add-replica']);
    // a policy that only scales on CPU above 99% ignores the 93% plateau
    const pf = path.join(dir, 'strict.yaml');
    writeFileSync(pf, 'scaleOut:\n  - metric: cpu\n    above: 99\n    for: 10m\n');
    expect(replayText(text, 'x.jsonl', { policyFile: pf })).toEqual([]);
  });

  it('reports the line number of a bad line and exits 2', async () => {
    const f = path.join(dir, 'bad.jsonl');
    writeFileSync(f, '{"t":"2026-01-01T00:00:00Z","shard":"sh0","cpu":10}\n\n{"t":"2026-01-01T00:05:00Z","shard":"sh0","cpu":"high"}\n');
    const r = await cli(['scaler', 'replay', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3: cpu:`);
    expect(r.stdout).toBe('');
  }, 30_000);

  it('names the file, line and field of a bad policy', () => {
    const pf = path.join(dir, 'badpolicy.yaml');
    writeFileSync(pf, 'maxShards: 4\ncooldown:\n  afterScaleOut: soon\n');
    expect(() => replayText('', 'x', { policyFile: pf })).toThrow(/badpolicy\.yaml:3: cooldown\.afterScaleOut: invalid duration "soon"/);
  });

  it('synth output replays to the documented decision (onboarding: predictive add-shard)', async () => {
    const r = await cli(['scaler', 'synth', '--scenario', 'onboarding']);
    expect(r.code).toBe(0);
    const out = replayText(r.stdout, 'synth');
    expect(out[0]).toMatchObject({ action: 'add-shard' });
    expect(String(out[0]!.reason)).toMatch(/^predictive/);
  }, 30_000);
});
