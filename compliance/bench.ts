import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { evaluate } from './rules';

/**
 * The live rules' cost in process: folding samples into the FactIndex (what the observer does per
 * sample) and one evaluation over every tracked instance (what it does at most every
 * `evaluate_interval_ms`). No I/O.
 */
export interface ComplianceBenchResult {
  instances: number;
  hosts: number;
  licenses: number;
  samples: number;
  fold_samples_per_s: number;
  evaluate_ms: number;
  violations: number;
}

export function benchCompliance(o: { instances?: number; polls?: number; licenses?: number } = {}): ComplianceBenchResult {
  const instances = o.instances ?? 20_000;
  const polls = o.polls ?? 10;
  const nLicenses = o.licenses ?? 200;
  const hosts = Math.max(1, Math.ceil(instances / 40));
  const t0 = Date.UTC(2026, 5, 1);
  const licenses: License[] = Array.from({ length: nLicenses }, (_, i) => ({ id: `l${i}`, product: `p${i % 10}`, match: { project_id: `proj${i % 50}` }, cores: 64, cores_per_instance: 8, architecture: 'x86_64', cpu_models: ['*Xeon*'] }));
  const samples: FactSample[] = [];
  for (let p = 0; p < polls; p++) {
    const ts = new Date(t0 + p * 300_000);
    for (let h = 0; h < hosts; h++) samples.push({ resource_id: `cmp-${h}`, project_id: null, timestamp: ts, message_id: `h${h}-${p}`, resource_metadata: { cpu_model: h % 7 ? 'Intel Xeon Gold' : 'AMD EPYC', architecture: 'x86_64', cpu_cores: 64 } });
    for (let i = 0; i < instances; i++) {
      samples.push({ resource_id: `vm-${i}`, project_id: `proj${i % 60}`, timestamp: ts, message_id: `v${i}-${p}`, resource_metadata: { vcpus: 1 + (i % 12), instance_host: `cmp-${i % hosts}`, user_metadata: { product: `p${i % 12}` } } });
    }
  }
  let best = Infinity;
  let index = new FactIndex();
  for (let run = 0; run < 3; run++) {
    index = new FactIndex();
    const s = performance.now();
    for (const x of samples) index.observe(x);
    best = Math.min(best, performance.now() - s);
  }
  let evalBest = Infinity;
  let violations = 0;
  const at = new Date(t0 + (polls - 1) * 300_000);
  for (let run = 0; run < 3; run++) {
    const s = performance.now();
    violations = evaluate(licenses, index, { at }).violations.length;
    evalBest = Math.min(evalBest, performance.now() - s);
  }
  return { instances, hosts, licenses: nLicenses, samples: samples.length, fold_samples_per_s: Math.round(samples.length / (best / 1000)), evaluate_ms: Math.round(evalBest * 10) / 10, violations };
}

export function formatComplianceBench(r: ComplianceBenchResult): string {
  return `compliance: fold ${r.fold_samples_per_s.toLocaleString('en-US')} samples/s (${r.samples.toLocaleString('en-US')} samples); one evaluation over ${r.instances.toLocaleString('en-US')} instances on ${r.hosts} hosts with ${r.licenses} licences: ${r.evaluate_ms} ms (${r.violations.toLocaleString('en-US')} violations)\n`;
}
