import { existsSync } from 'node:fs';
import type { z } from 'zod';
import { parseYaml, readYamlFile, validateYaml, YamlValidationError, type YamlIssue, type YamlSource } from './yaml-source';
import { FILE_PREFIX, readSecretFile, SECRET_KEYS } from './secrets';

export const DEFAULT_CONFIG_FILE = 'metering.yaml';

/** An environment variable that overrides one setting (it wins over the file); applied only when set and non-empty. */
export interface EnvOverride {
  env: string;
  path: readonly string[];
  parse?: (v: string) => unknown;
}

/**
 * What the generic loader needs to know about a configuration: its schema (assembled by the
 * composition root, app/config.ts, from each component's section) and its environment overrides.
 */
export interface ConfigSpec<S extends z.ZodType> {
  schema: S;
  envOverrides: readonly EnvOverride[];
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replace `${VAR}` in every string value; an unset variable is an error located at its key. */
function interpolate(src: YamlSource, env: NodeJS.ProcessEnv): { value: unknown; issues: YamlIssue[] } {
  const issues: YamlIssue[] = [];
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      const expanded = v.replace(ENV_REF, (_m, name: string) => {
        const val = env[name];
        if (val === undefined) {
          issues.push(src.issue(path, `environment variable ${name} is not set`));
          return '';
        }
        return val;
      });
      // secret settings may name a file (mounted secrets): `file:/run/secrets/admin-token`
      const key = path[path.length - 1];
      if (typeof key === 'string' && SECRET_KEYS.has(key) && expanded.startsWith(FILE_PREFIX)) {
        const read = readSecretFile(expanded);
        if ('error' in read) {
          issues.push(src.issue(path, read.error));
          return '';
        }
        return read.value;
      }
      return expanded;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    }
    return v;
  };
  return { value: walk(src.value, []), issues };
}

function applyEnvOverrides(value: unknown, env: NodeJS.ProcessEnv, overrides: readonly EnvOverride[]): unknown {
  const root: Record<string, unknown> = value && typeof value === 'object' && !Array.isArray(value) ? { ...(value as object) } : {};
  for (const o of overrides) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') continue;
    let node = root;
    for (const key of o.path.slice(0, -1)) {
      const next = node[key];
      node[key] = next && typeof next === 'object' && !Array.isArray(next) ? { ...(next as object) } : {};
      node = node[key] as Record<string, unknown>;
    }
    node[o.path[o.path.length - 1]!] = o.parse ? o.parse(raw) : raw;
  }
  return root;
}

/** Validate configuration text. Throws YamlValidationError naming file, line and key of every problem. */
export function parseConfigWith<S extends z.ZodType>(spec: ConfigSpec<S>, text: string, file: string, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  return validateConfigSource(spec, parseYaml(text, file), env);
}

function validateConfigSource<S extends z.ZodType>(spec: ConfigSpec<S>, src: YamlSource, env: NodeJS.ProcessEnv): z.output<S> {
  if (src.value !== undefined && src.value !== null && (typeof src.value !== 'object' || Array.isArray(src.value))) {
    throw new YamlValidationError([src.issue([], 'expected a mapping of configuration sections at the top level')]);
  }
  const { value, issues } = interpolate(src, env);
  if (issues.length) throw new YamlValidationError(issues);
  const withEnv = applyEnvOverrides(value, env, spec.envOverrides);
  return validateYaml(src, spec.schema, withEnv);
}

/**
 * Load the effective configuration: `file` if given; else ./metering.yaml when present; else the
 * embedded defaults. Environment overrides apply in every case.
 */
export function loadConfigWith<S extends z.ZodType>(spec: ConfigSpec<S>, file?: string, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const path = file ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (!path) return validateConfigSource(spec, parseYaml('', '<defaults>'), env);
  return validateConfigSource(spec, readYamlFile(path), env);
}
