/**
 * The agent's own entry reads only what it needs from metering.yaml: `agent.host` and
 * `ingest.telemetrySecret` (to sign samples), with `${VAR}` references, `file:` secrets and the
 * METERING_TELEMETRY_SECRET override applied as config/load.ts applies them, validated by
 * agent/host-settings.ts (no zod: RSS budget). Other sections are not validated here (the full
 * `metering` CLI validates the whole file). Errors name file, line and key like the full CLI's.
 */
import { existsSync } from 'node:fs';
import { FILE_PREFIX, readSecretFile, SECRET_KEYS } from '../config/secrets';
import { readYamlFile, YamlValidationError, type YamlIssue, type YamlSource } from '../config/yaml-source';
import { checkAgentHost, agentHostDefaults } from './host-settings';
import type { AgentSettings } from './commands';

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function expand(src: YamlSource, v: unknown, path: string[], env: NodeJS.ProcessEnv, issues: YamlIssue[]): unknown {
  if (typeof v !== 'string') return v;
  const expanded = v.replace(ENV_REF, (_m, name: string) => {
    const val = env[name];
    if (val === undefined) {
      issues.push(src.issue(path, `environment variable ${name} is not set`));
      return '';
    }
    return val;
  });
  if (SECRET_KEYS.has(path[path.length - 1]!) && expanded.startsWith(FILE_PREFIX)) {
    const read = readSecretFile(expanded);
    if ('error' in read) {
      issues.push(src.issue(path, read.error));
      return '';
    }
    return read.value;
  }
  return expanded;
}

const mapping = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** The agent's settings from `file`, else ./metering.yaml when present, else the defaults. Throws YamlValidationError. */
export function readAgentSettings(file: string | undefined, env: NodeJS.ProcessEnv = process.env): AgentSettings {
  const path = file ?? (existsSync('metering.yaml') ? 'metering.yaml' : undefined);
  const envSecret = env.METERING_TELEMETRY_SECRET;
  if (!path) return { host: agentHostDefaults(), telemetrySecret: envSecret ?? '' };
  const src = readYamlFile(path);
  const root = src.value ?? {};
  if (!mapping(root)) throw new YamlValidationError([src.issue([], 'expected a mapping of configuration sections at the top level')]);
  const issues: YamlIssue[] = [];
  const agent = root.agent ?? undefined;
  if (agent !== undefined && agent !== null && !mapping(agent)) issues.push(src.issue(['agent'], `Invalid input: expected object, received ${Array.isArray(agent) ? 'array' : typeof agent}`));
  let hostValue = mapping(agent) ? agent.host : undefined;
  if (hostValue === null) hostValue = undefined;
  if (mapping(hostValue)) hostValue = Object.fromEntries(Object.entries(hostValue).map(([k, v]) => [k, expand(src, v, ['agent', 'host', k], env, issues)]));
  const host = checkAgentHost(hostValue);
  if (!host.ok) for (const i of host.issues) issues.push(src.issue(['agent', 'host', ...i.path], i.message));
  let secret: unknown = '';
  if (envSecret !== undefined && envSecret !== '') secret = envSecret;
  else if (mapping(root.ingest) && root.ingest.telemetrySecret !== undefined) {
    secret = expand(src, root.ingest.telemetrySecret, ['ingest', 'telemetrySecret'], env, issues);
    if (typeof secret !== 'string') issues.push(src.issue(['ingest', 'telemetrySecret'], `Invalid input: expected string, received ${typeof secret}`));
  }
  if (issues.length || !host.ok) throw new YamlValidationError(issues.sort((a, b) => a.line - b.line));
  return { host: host.settings, telemetrySecret: secret as string };
}
