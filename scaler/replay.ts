import { readFileSync } from 'node:fs';
import { defaultPolicy, loadPolicyFile, type PolicyConfig } from './config';
import { parseMetricsJsonl } from './metrics';
import { decisionLine, runPolicy } from './policy';

export interface ReplayOptions {
  /** Policy YAML file (top-level keys of the `scaler.policy` section); defaults when absent. */
  policyFile?: string;
  policy?: PolicyConfig;
  /** Print every evaluation, not only actions. */
  all?: boolean;
}

/** Replay a metrics JSONL text through the policy; returns the lines `scaler replay` prints. */
export function replayText(text: string, file: string, opts: ReplayOptions = {}): Record<string, unknown>[] {
  const policy = opts.policy ?? (opts.policyFile ? loadPolicyFile(opts.policyFile) : defaultPolicy());
  const { observations, onboarding } = parseMetricsJsonl(text, file);
  const decisions = runPolicy(policy, observations, onboarding);
  return decisions.filter((d) => opts.all || d.action !== 'none').map(decisionLine);
}

export function replayFile(file: string, opts: ReplayOptions = {}): Record<string, unknown>[] {
  return replayText(readFileSync(file, 'utf8'), file, opts);
}
