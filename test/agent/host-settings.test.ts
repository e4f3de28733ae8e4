import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgvError, parseArgv, type CommandSpec, type OptionSpec } from '../../agent/argv';
import { agentHostConfig } from '../../agent/config';
import { AGENT_HOST_KEYS, agentHostDefaults, checkAgentHost } from '../../agent/host-settings';
import { readAgentSettings } from '../../agent/settings-file';
import { loadConfig } from '../../app/config';
import { REPO } from '../support/paths';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-settings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** zod's verdict on an agent.host value, in the shape the hand-written check reports. */
function zodVerdict(value: unknown) {
  const r = agentHostConfig.safeParse(value);
  if (r.success) return { ok: true, settings: r.data };
  const issues = r.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ path: [k], message: 'unknown key' })) : [{ path: i.path.map(String), message: i.message }],
  );
  // zod sometimes follows a type error with a second issue on the same key (e.g. [] for a string:
  // also "expected array to have >=1 items"); the agent entry reports the first one per key
  return { ok: false, issues: issues.filter((i, n) => issues.findIndex((j) => j.path.join('.') === i.path.join('.')) === n) };
}
function handVerdict(value: unknown) {
  const r = checkAgentHost(value);
  return r.ok ? r : { ok: false, issues: r.issues.map((i) => ({ path: i.path, message: i.message.replace(/ \(allowed: .*\)$/, '') })) };
}
const byPath = <T extends { path: string[] }>(xs: T[]) => [...xs].sort((a, b) => a.path.join('.').localeCompare(b.path.join('.')));

describe('agent.host without zod (the agent entry) stays equal to the zod schema (agent/config.ts)', () => {
  it('the same keys and defaults as agentHostConfig.parse({})', () => {
    expect(agentHostDefaults()).toEqual(agentHostConfig.parse({}));
    expect([...AGENT_HOST_KEYS].sort()).toEqual(Object.keys(agentHostConfig.parse({})).sort());
    expect(checkAgentHost(undefined)).toEqual({ ok: true, settings: agentHostConfig.parse(undefined) });
  });

  const values: unknown[] = ['x', '', '10', 0, -1, 0.5, 1.5, 7, 2 ** 20, NaN, Infinity, -Infinity, null, true, false, [], {}, 'metering-agent'];
  it.each(AGENT_HOST_KEYS)('%s: every sample value is accepted or refused by both, with the same message', (key) => {
    for (const v of values) {
      const input = { [key]: v };
      const z = zodVerdict(input);
      const h = handVerdict(input);
      expect({ v, ok: h.ok }).toEqual({ v, ok: z.ok });
      if (z.ok) expect(h).toEqual(z);
      else expect(byPath((h as { issues: Array<{ path: string[]; message: string }> }).issues)).toEqual(byPath((z as { issues: Array<{ path: string[]; message: string }> }).issues));
    }
  });

  it('unknown keys and non-mappings are refused by both', () => {
    for (const v of [{ interval: 1, foo: 'x' }, null, 'str', [1], 3]) {
      const z = zodVerdict(v);
      const h = handVerdict(v);
      expect(z.ok).toBe(false);
      expect(byPath((h as { issues: Array<{ path: string[]; message: string }> }).issues)).toEqual(byPath((z as { issues: Array<{ path: string[]; message: string }> }).issues));
    }
  });
});

describe('metering.yaml read by the agent entry', () => {
  const file = (name: string, text: string) => {
    const f = path.join(tmp, name);
    writeFileSync(f, text);
    return f;
  };

  it('takes agent.host and ingest.telemetrySecret with ${VAR}, file: secrets and METERING_TELEMETRY_SECRET as the full loader does', () => {
    const secret = file('secret', 'from-file\n');
    const f = file('ok.yaml', `agent:\n  host:\n    interval_s: 2\n    data_dir: \${AGENT_DIR}/data\n    per_core: true\ningest:\n  telemetrySecret: file:${secret}\n`);
    const env = { AGENT_DIR: '/var/lib/agent' };
    const s = readAgentSettings(f, env);
    const full = loadConfig(f, env);
    expect(s).toEqual({ host: full.agent.host, telemetrySecret: full.ingest.telemetrySecret });
    expect(s.host.data_dir).toBe('/var/lib/agent/data');
    expect(s.telemetrySecret).toBe('from-file');
    expect(readAgentSettings(f, { ...env, METERING_TELEMETRY_SECRET: 'env-wins' }).telemetrySecret).toBe('env-wins');
  });

  it('the shipped metering.yaml gives the same agent settings as the full loader', () => {
    const f = path.join(REPO, 'metering.yaml');
    const full = loadConfig(f, {});
    expect(readAgentSettings(f, {})).toEqual({ host: full.agent.host, telemetrySecret: full.ingest.telemetrySecret });
  });

  it('a bad agent.host setting is refused naming file, line and key, with the full loader\'s message', () => {
    const f = file('bad.yaml', 'store:\n  database: x\nagent:\n  host:\n    interval_s: 0\n    colour: red\n');
    const agentErr = (() => { try { readAgentSettings(f, {}); } catch (e) { return (e as Error).message; } return ''; })();
    const fullErr = (() => { try { loadConfig(f, {}); } catch (e) { return (e as Error).message; } return ''; })();
    expect(agentErr).toContain(`${f}:5: agent.host.interval_s: Too small: expected number to be >0`);
    expect(agentErr).toMatch(new RegExp(`${f}:6: agent\\.host\\.colour: unknown key`));
    for (const line of agentErr.split('\n')) expect(fullErr.split('\n').map((l) => l.replace(/ \(allowed: .*\)$/, ''))).toContain(line.replace(/ \(allowed: .*\)$/, ''));
    expect(() => readAgentSettings(file('unset.yaml', 'agent:\n  host:\n    data_dir: ${NO_SUCH_VAR_X}\n'), {})).toThrow(/unset\.yaml:3: agent\.host\.data_dir: environment variable NO_SUCH_VAR_X is not set/);
  });
});

describe('the agent entry\'s argv parser', () => {
  const globals: OptionSpec[] = [{ flag: '--config', short: '-c', type: 'string', help: '' }];
  const commands: CommandSpec[] = [
    { name: 'run', help: '', options: [{ flag: '--interval', type: 'number', help: '' }, { flag: '--data-dir', type: 'string', help: '' }, { flag: '--quiet', type: 'boolean', help: '' }] },
    { name: 'top', help: '', required: ['--controller'], options: [{ flag: '--controller', type: 'string', help: '' }, { flag: '--span', type: 'number', help: '', default: 300 }] },
  ];
  const parse = (...a: string[]) => parseArgv(a, globals, commands);

  it('parses commands, options, --opt=value, switches, defaults and global options anywhere', () => {
    expect(parse('-c', 'm.yaml', 'run', '--interval', '0.5', '--data-dir=/d', '--quiet')).toEqual({ command: 'run', help: false, options: { config: 'm.yaml', interval: 0.5, dataDir: '/d', quiet: true } });
    expect(parse('top', '--controller', 'http://c:1')).toEqual({ command: 'top', help: false, options: { controller: 'http://c:1', span: 300 } });
    expect(parse('run', '--help').help).toBe(true);
  });

  it.each([
    [['run', '--bogus'], /unknown option '--bogus' for 'run'/],
    [['run', '--interval', '0'], /--interval must be a number > 0, got "0"/],
    [['run', '--interval', 'abc'], /--interval must be a number > 0, got "abc"/],
    [['run', '--interval'], /option '--interval <value>' needs a value/],
    [['run', '--data-dir', '--quiet'], /option '--data-dir <value>' needs a value/],
    [['run', '--quiet=yes'], /option '--quiet' takes no value/],
    [['fly'], /unknown command 'fly' \(commands: run, top\)/],
    [['run', 'extra'], /unexpected argument 'extra' for 'run'/],
    [['top'], /'top' needs --controller/],
  ])('%j is refused naming what is wrong', (argv, msg) => {
    expect(() => parse(...argv)).toThrow(ArgvError);
    expect(() => parse(...argv)).toThrow(msg);
  });
});

describe('bin/metering-agent.mjs', () => {
  const agent = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'bin/metering-agent.mjs'), ...args], { encoding: 'utf8', cwd: REPO, timeout: 60_000 });

  it('refuses a bad option or value with exit code 2 and a line naming it', () => {
    const r = agent('run', '--intervl', '1');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^metering-agent: unknown option '--intervl' for 'run'/);
    const c = agent('-c', path.join(tmp, 'missing.yaml'), 'run', '--duration', '1');
    expect(c.status).toBe(2);
    expect(c.stderr).toContain('missing.yaml');
    expect(agent('run', '--help').stdout).toMatch(/Usage: metering-agent run \[options\][\s\S]*--interval <s>/);
  }, 60_000);

  it('its bundle loads neither commander, zod, js-yaml, kafkajs, ioredis nor mongodb before a command asks for them', () => {
    expect(agent('--help').status).toBe(0); // builds the bundle when stale
    const dir = path.join(REPO, '.cache');
    const entry = /\.\/(metering-agent-bundle\/[^']+)'/.exec(readFileSync(path.join(dir, 'metering-agent.mjs'), 'utf8'))![1]!;
    // every module reached through static imports from the entry
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (rel: string) => {
      if (seen.has(rel)) return;
      seen.add(rel);
      const text = readFileSync(path.join(dir, rel), 'utf8');
      for (const m of text.matchAll(/^import\s[^;]*?from\s*"([^"]+)"/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('./')) visit(path.join(path.dirname(rel), spec));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    };
    visit(entry);
    expect([...packages]).toEqual([]);
  }, 60_000);
});
