/**
 * The `agent.host` settings without zod, for the agent's own entry (bin/metering-agent.mjs), which
 * must stay within the 50 MB RSS budget (zod alone costs several MB). The zod schema in
 * agent/config.ts stays the single source: these defaults and refusals must equal it, and
 * test/agent/host-settings.test.ts checks that they do (defaults = `agentHostConfig.parse({})`, and
 * the same inputs refused with the same messages). Pure: no I/O.
 */
import type { AgentHostConfig } from './config';

type Rule = 'positive' | 'positiveInt' | 'nonnegative' | 'boolean' | 'nonEmptyString' | 'string';

/** Every key of `agent.host`, its rule and its default (agent/config.ts documents each). */
const RULES: { [K in keyof AgentHostConfig]-?: [Rule, AgentHostConfig[K]] } = {
  interval_s: ['positive', 10],
  window_s: ['positive', 60],
  per_core: ['boolean', false],
  rediscover_s: ['positive', 60],
  data_dir: ['nonEmptyString', '.cache/agent'],
  raw_retention_s: ['positive', 86_400],
  raw_max_bytes: ['positiveInt', 256 * 1024 * 1024],
  raw_segment_bytes: ['positiveInt', 4 * 1024 * 1024],
  raw_segment_s: ['positive', 3600],
  fsync_s: ['nonnegative', 5],
  spool_max_bytes: ['positiveInt', 64 * 1024 * 1024],
  retry_s: ['positive', 5],
  heartbeat_s: ['positive', 15],
  source: ['nonEmptyString', 'metering-agent'],
  virsh_timeout_s: ['positive', 5],
  tls_ca: ['string', ''],
  tls_cert: ['string', ''],
  tls_key: ['string', ''],
};

export const AGENT_HOST_KEYS = Object.keys(RULES) as Array<keyof AgentHostConfig>;

/** The defaults of `agent.host` (equal to `agentHostConfig.parse({})`). */
export function agentHostDefaults(): AgentHostConfig {
  return Object.fromEntries(AGENT_HOST_KEYS.map((k) => [k, RULES[k][1]])) as unknown as AgentHostConfig;
}

/** A refused setting: its path below `agent.host` and zod's message for it. */
export interface SettingIssue {
  path: string[];
  message: string;
}

function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'number' : v > 0 ? 'Infinity' : '-Infinity';
  return typeof v;
}

function check(rule: Rule, v: unknown): string | undefined {
  switch (rule) {
    case 'boolean':
      return typeof v === 'boolean' ? undefined : `Invalid input: expected boolean, received ${received(v)}`;
    case 'string':
    case 'nonEmptyString':
      if (typeof v !== 'string') return `Invalid input: expected string, received ${received(v)}`;
      return rule === 'string' || v.length >= 1 ? undefined : 'Too small: expected string to have >=1 characters';
    default: {
      if (typeof v !== 'number' || !Number.isFinite(v)) return `Invalid input: expected number, received ${received(v)}`;
      if (rule === 'positiveInt' && !Number.isInteger(v)) return 'Invalid input: expected int, received number';
      if (rule === 'nonnegative') return v >= 0 ? undefined : 'Too small: expected number to be >=0';
      return v > 0 ? undefined : 'Too small: expected number to be >0';
    }
  }
}

/**
 * Validate an `agent.host` value as agentHostConfig does: absent (undefined) keys take their
 * default, unknown keys are refused (one issue per key: "unknown key (allowed: …)"), wrong types and
 * ranges are refused with zod's message. Returns the settings, or every issue found.
 */
export function checkAgentHost(value: unknown): { ok: true; settings: AgentHostConfig } | { ok: false; issues: SettingIssue[] } {
  if (value === undefined) return { ok: true, settings: agentHostDefaults() };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, issues: [{ path: [], message: `Invalid input: expected object, received ${received(value)}` }] };
  const input = value as Record<string, unknown>;
  const issues: SettingIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const k of AGENT_HOST_KEYS) {
    const [rule, dflt] = RULES[k];
    const v = input[k];
    if (v === undefined) {
      out[k] = dflt;
      continue;
    }
    const message = check(rule, v);
    if (message) issues.push({ path: [k], message });
    else out[k] = v;
  }
  for (const k of Object.keys(input)) if (!(k in RULES)) issues.push({ path: [k], message: `unknown key (allowed: ${AGENT_HOST_KEYS.join(', ')})` });
  return issues.length ? { ok: false, issues } : { ok: true, settings: out as unknown as AgentHostConfig };
}
