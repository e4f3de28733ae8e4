import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';
import { parseConfig, loadConfig } from '../../app/config';
import { YamlValidationError } from '../../config/yaml-source';
import { REPO } from '../support/paths';
import { TestCa } from '../../lib/certs';
import { redactUrlCredentials } from '../../config/secrets';

const dir = mkdtempSync(path.join(tmpdir(), 'metering-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const issuesOf = (text: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseConfig(text, 'metering.yaml', env);
  } catch (err) {
    if (err instanceof YamlValidationError) return err.message.split('\n');
    throw err;
  }
  return [];
};
const cli = (...args: string[]) => spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, MONGODB_URI: '', KAFKA_BROKERS: '', REDIS_URL: '' } });

describe('metering.yaml validation', () => {
  it('names file, line and key for a wrong type', () => {
    expect(issuesOf('controller:\n  host: 127.0.0.1\n  port: eighty\n')).toEqual(['metering.yaml:3: controller.port: Invalid input: expected number, received string']);
  });

  it('names unknown keys at any depth and lists what is allowed', () => {
    const issues = issuesOf('controler:\n  port: 1\nredis:\n  url: redis://x\n  prefx: a\n');
    expect(issues[0]).toMatch(/^metering\.yaml:1: controler: unknown key \(allowed: .*controller/);
    expect(issues[1]).toMatch(/^metering\.yaml:5: redis\.prefx: unknown key \(allowed: url, tls, prefix\)$/);
  });

  it('reports a YAML syntax error with its line', () => {
    expect(issuesOf('controller:\n  port: 80\n  host: [a,\n')[0]).toMatch(/^metering\.yaml:\d+: YAML syntax error: /);
  });

  it('locates errors inside lists of tokens', () => {
    const issues = issuesOf('controller:\n  auth:\n    tokens:\n      - name: ok\n        token: 0123456789abcdef0\n        roles: [read]\n      - name: bad\n        token: 0123456789abcdef0\n        roles: [superuser]\n');
    expect(issues).toEqual(['metering.yaml:9: controller.auth.tokens[1].roles[0]: expected one of "admin", "ingest", "read"']);
  });

  it('treats an empty file (or comments only) as all defaults', () => {
    const empty = parseConfig('', 'metering.yaml', {});
    expect(parseConfig('# nothing here\n', 'metering.yaml', {})).toEqual(empty);
    expect(empty.controller.port).toBe(8777);
    expect(empty.controller.auth.tokens).toEqual([]);
  });

  it('rejects a top level that is not a mapping', () => {
    expect(issuesOf('- a\n- b\n')[0]).toMatch(/^metering\.yaml:1: expected a mapping/);
  });

  it('lets the environment override connection strings and fill ${VAR} secrets', () => {
    const text = 'redis:\n  url: redis://file:1\ncontroller:\n  auth:\n    tokens:\n      - {name: ops, token: "${OPS_TOKEN}", roles: [admin]}\n';
    const cfg = parseConfig(text, 'metering.yaml', { REDIS_URL: 'redis://env:2', OPS_TOKEN: 'from-the-environment-123' });
    expect(cfg.redis.url).toBe('redis://env:2');
    expect(cfg.controller.auth.tokens[0]!.token).toBe('from-the-environment-123');
    expect(issuesOf(text)).toEqual(['metering.yaml:6: controller.auth.tokens[0].token: environment variable OPS_TOKEN is not set']);
  });

  it("points the autoscaler at the store's database unless told otherwise, and refuses a different one", () => {
    expect(parseConfig('store:\n  database: metering_prod\n', 'metering.yaml', {}).scaler.database).toBe('metering_prod');
    expect(issuesOf('store:\n  database: a\nscaler:\n  database: b\n')).toEqual([
      "metering.yaml:4: scaler.database: must be the store's database (store.database: a): the scaler shards and measures the samples the store writes",
    ]);
  });

  it('ships a metering.yaml that documents every setting and loads to exactly the defaults', () => {
    const shipped = path.join(REPO, 'metering.yaml');
    const defaults = loadConfig(undefined, {});
    // No '${VAR}' in the shipped file may be required just to load it.
    expect(loadConfig(shipped, {})).toEqual(defaults);
    const written = load(execFileSync('cat', [shipped], { encoding: 'utf8' }));
    const leaves = (v: unknown, p: string[] = []): string[] =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).flatMap(([k, x]) => leaves(x, [...p, k])) : [p.join('.')];
    // every default setting is spelled out in the shipped file
    expect(leaves(written).sort()).toEqual(leaves(defaults).sort());
  });
});

describe('metering config check', () => {
  it('prints every error and exits 1 for an invalid file', () => {
    const r = cli('config', 'check', file('bad.yaml', 'controller:\n  port: -1\n  bogus: true\n'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bad.yaml:2: controller.port:');
    expect(r.stderr).toContain('bad.yaml:3: controller.bogus: unknown key');
  });

  it('prints the effective configuration with secrets redacted and exits 0', () => {
    const r = cli('config', 'check', file('ok.yaml', 'controller:\n  port: 9000\n  auth:\n    tokens: [{name: ops, token: super-secret-token-value, roles: [admin]}]\n'));
    expect(r.status).toBe(0);
    const printed = load(r.stdout) as { controller: { port: number; auth: { tokens: Array<{ token: string }> } } };
    expect(printed.controller.port).toBe(9000);
    expect(printed.controller.auth.tokens[0]!.token).toBe('<redacted>');
    expect(r.stdout).not.toContain('super-secret-token-value');
  });

  it('reports an unreadable file clearly', () => {
    const r = cli('config', 'check', path.join(dir, 'missing.yaml'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing\.yaml:0: cannot read file/);
  });

  it('lists the subcommands in --help', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    for (const cmd of ['config', 'services', 'serve', 'demo']) expect(r.stdout).toContain(cmd);
  });
});

describe('every secret setting', () => {
  // Each setting that holds a secret (or a connection string that may carry one), with a value that
  // is valid there and contains a marker that must never be printed.
  const SECRETS: Array<{ path: string[]; value: (s: string) => string }> = [
    { path: ['controller', 'auth', 'tokens', '0', 'token'], value: (s) => `token-${s}-0123456789` },
    { path: ['ingest', 'telemetrySecret'], value: (s) => `telemetry-${s}` },
    { path: ['kafka', 'sasl', 'password'], value: (s) => `sasl-${s}` },
    { path: ['amqp', 'url'], value: (s) => `amqps://ceilometer:amqp-${s}@rabbit.example:5671/` },
    { path: ['redis', 'url'], value: (s) => `rediss://:redis-${s}@redis.example:6380/0` },
    { path: ['store', 'uri'], value: (s) => `mongodb://metering:mongo-${s}@db-1:27017/?tls=true` },
    { path: ['compliance', 'webhook', 'url'], value: (s) => `https://hook:webhook-${s}@alerts.example/compliance` },
    { path: ['compliance', 'webhook', 'token'], value: (s) => `webhook-token-${s}` },
    { path: ['agent', 'controller', 'advertise_redis_url'], value: (s) => `rediss://:agent-redis-${s}@redis.example:6380/0` },
  ];
  const yamlWith = (ref: (i: number) => string) =>
    `controller:\n  auth:\n    tokens:\n      - {name: ops, token: "${ref(0)}", roles: [admin]}\n` +
    `ingest:\n  telemetrySecret: "${ref(1)}"\n` +
    `kafka:\n  sasl:\n    mechanism: scram-sha-512\n    username: metering\n    password: "${ref(2)}"\n` +
    `amqp:\n  url: "${ref(3)}"\n` +
    `redis:\n  url: "${ref(4)}"\n` +
    `store:\n  uri: "${ref(5)}"\n` +
    `compliance:\n  webhook:\n    url: "${ref(6)}"\n    token: "${ref(7)}"\n` +
    `agent:\n  controller:\n    advertise_redis_url: "${ref(8)}"\n`;
  const at = (cfg: unknown, p: string[]) => p.reduce((v: unknown, k) => (v as Record<string, unknown>)[k], cfg) as string;
  const noOverrides = { MONGODB_URI: '', KAFKA_BROKERS: '', REDIS_URL: '', AMQP_URL: '', METERING_TELEMETRY_SECRET: '' };

  it('accepts ${ENV_VAR} and file:/path (a mounted secret) for each', () => {
    const env: NodeJS.ProcessEnv = { ...noOverrides };
    SECRETS.forEach((s, i) => (env[`SECRET_${i}`] = s.value(`env${i}`)));
    const fromEnv = parseConfig(yamlWith((i) => `\${SECRET_${i}}`), 'env.yaml', env);
    SECRETS.forEach((s, i) => expect(at(fromEnv, s.path), s.path.join('.')).toBe(s.value(`env${i}`)));

    const files = SECRETS.map((s, i) => file(`secret-${i}`, `${s.value(`file${i}`)}\n`));
    const fromFiles = parseConfig(yamlWith((i) => `file:${files[i]}`), 'files.yaml', noOverrides);
    SECRETS.forEach((s, i) => expect(at(fromFiles, s.path), s.path.join('.')).toBe(s.value(`file${i}`)));
  });

  it('config check prints none of them', () => {
    const files = SECRETS.map((s, i) => file(`printed-${i}`, s.value(`printed${i}`)));
    const r = spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), 'config', 'check', file('secrets.yaml', yamlWith((i) => `file:${files[i]}`))], { encoding: 'utf8', env: { ...process.env, ...noOverrides } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const printed = load(r.stdout);
    SECRETS.forEach((s, i) => {
      expect(r.stdout, s.path.join('.')).not.toContain(`printed${i}`);
      expect(at(printed, s.path), s.path.join('.')).toContain('<redacted>');
    });
  });
});

describe('secrets inside URLs', () => {
  it('query values named for a secret are redacted, other options stay readable', () => {
    expect(redactUrlCredentials('https://alerts.example/hook?channel=ops&token=abc123&X-Amz-Signature=f00')).toBe('https://alerts.example/hook?channel=ops&token=<redacted>&X-Amz-Signature=<redacted>');
    expect(redactUrlCredentials('mongodb://u:pw@db:27017/?tls=true&tlsCertificateKeyFilePassword=kp&authSource=admin')).toBe('mongodb://u:<redacted>@db:27017/?tls=true&tlsCertificateKeyFilePassword=<redacted>&authSource=admin');
    expect(redactUrlCredentials('not a url ?token=x')).toBe('not a url ?token=x');
  });

  it('config check prints no webhook query token', () => {
    const r = spawnSync('node', [path.join(REPO, 'bin/metering.mjs'), 'config', 'check', file('webhook.yaml', 'compliance:\n  webhook:\n    url: "https://alerts.example/compliance?api_key=qs-secret-42&channel=ops"\n')], { encoding: 'utf8', env: { ...process.env, MONGODB_URI: '', KAFKA_BROKERS: '', REDIS_URL: '', AMQP_URL: '' } });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('qs-secret-42');
    expect(r.stdout).toContain('channel=ops');
  });
});

describe('docs/security.md', () => {
  it('every configuration example validates (with its files and secrets in place)', () => {
    const text = readFileSync(path.join(REPO, 'docs/security.md'), 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const ca = new TestCa('docs example CA');
    const leaf = ca.server();
    const files = (yaml: string) =>
      yaml
        .replace(/\/etc\/metering\/tls\/([\w.-]+)/g, (_m, name: string) => file(`doc-${name}`, name.endsWith('.key') ? leaf.key : name.endsWith('.pem') ? leaf.key + leaf.cert : name.includes('ca') ? ca.cert : leaf.cert))
        .replace(/\/run\/secrets\/([\w.-]+)/g, (_m, name: string) => file(`doc-secret-${name}`, 'a-mounted-secret-value-0123\n'));
    const env = { PLANNER_TOKEN: 'planner-token-from-env-0123', MONGO_PASSWORD: 'mongo-pw', REDIS_PASSWORD: 'redis-pw', RABBIT_PASSWORD: 'rabbit-pw', MONGODB_URI: '', REDIS_URL: '', AMQP_URL: '', KAFKA_BROKERS: '' };
    for (const block of blocks) expect(() => parseConfig(files(block), 'docs/security.md', env), block).not.toThrow();
  });
});
