import type { Fact, ResourceFacts, SampleRef } from './facts';
import { globMatch, matches, validAt, type License } from './license';

/**
 * The licence rules at time T, pure: licences (in file order) and the facts folded from the samples
 * at or before T in, findings out. The offline `metering license check`, the reports and the live
 * observer all call `evaluate`.
 */

export const VIOLATION_KINDS = ['unlicensed', 'expired', 'instance-cores-exceeded', 'cores-exceeded', 'architecture-mismatch', 'cpu-model-mismatch'] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];
export const LICENSE_STATUSES = ['compliant', 'violation', 'expired', 'unused'] as const;
export type LicenseStatus = (typeof LICENSE_STATUSES)[number];

export interface Violation {
  license_id: string | null;
  resource_id: string | null;
  kind: ViolationKind;
  assigned: unknown;
  actual: unknown;
  /** The samples the finding rests on (not part of `license check --json`). */
  evidence: SampleRef[];
}

export interface LicenseResult {
  id: string;
  status: LicenseStatus;
  /** Resource ids of the matched active instances, sorted. */
  instances: string[];
  cores_used: number;
}

export interface Unverified {
  resource_id: string;
  license_id: string;
  /** Why the host could not be checked (not part of `license check --json`). */
  reason: string;
}

/** One active instance of a product and what it was judged on. */
export interface InstanceFinding {
  resource_id: string;
  product: string;
  project_id: string | null;
  license_id: string | null;
  vcpus: number | null;
  host: string | null;
  host_facts: { cpu_model: string | null; architecture: string | null; cpu_cores: number | null };
  /** Every sample this instance's findings rest on, each with what it gave. */
  samples: Array<SampleRef & { resource_id: string; gave: string }>;
}

export interface Evaluation {
  at: Date;
  active_window_s: number;
  violations: Violation[];
  licenses: LicenseResult[];
  unverified: Unverified[];
  instances: InstanceFinding[];
}

/** What the rules read: resources by id (hosts are looked up by their name = resource_id). */
export interface FactView {
  resources(): Iterable<ResourceFacts>;
  get(resourceId: string): ResourceFacts | undefined;
}

export interface EvaluateOptions {
  at: Date;
  /** An instance is active when it has a sample in (at − activeWindowS, at] (default 3600). */
  activeWindowS?: number;
}

const byId = (a: { resource_id: string }, b: { resource_id: string }) => (a.resource_id < b.resource_id ? -1 : a.resource_id > b.resource_id ? 1 : 0);

interface Active {
  r: ResourceFacts;
  product: string;
  host?: ResourceFacts;
}

export function evaluate(licenses: readonly License[], view: FactView, opts: EvaluateOptions): Evaluation {
  const at = opts.at;
  const windowS = opts.activeWindowS ?? 3600;
  const t = at.getTime();
  const from = t - windowS * 1000;

  // Active instances of a product: newest sample in (T − window, T].
  const active: Active[] = [];
  for (const r of view.resources()) {
    const ts = r.newest.timestamp.getTime();
    if (r.product === undefined || ts <= from || ts > t) continue;
    const host = r.host ? view.get(r.host.value) : undefined;
    active.push({ r, product: r.product, ...(host ? { host } : {}) });
  }
  active.sort((a, b) => byId(a.r, b.r));

  // Each instance under the FIRST licence of its product whose match holds (valid or not).
  const under = new Map<string, Active[]>(licenses.map((l) => [l.id, []]));
  const byProduct = new Map<string, License[]>();
  for (const l of licenses) {
    const list = byProduct.get(l.product);
    if (list) list.push(l);
    else byProduct.set(l.product, [l]);
  }
  const unmatched: Active[] = [];
  for (const a of active) {
    const l = byProduct.get(a.product)?.find((x) => matches(x, a.r));
    if (l) under.get(l.id)!.push(a);
    else unmatched.push(a);
  }

  const violations: Violation[] = [];
  const unverified: Unverified[] = [];
  const results: LicenseResult[] = [];
  const licenseOf = new Map<string, string>();

  for (const l of licenses) {
    const list = under.get(l.id)!;
    const cores = list.reduce((s, a) => s + (a.r.vcpus?.value ?? 0), 0);
    const result: LicenseResult = { id: l.id, status: 'unused', instances: list.map((a) => a.r.resource_id), cores_used: cores };
    results.push(result);
    for (const a of list) licenseOf.set(a.r.resource_id, l.id);
    if (list.length === 0) continue;

    if (!validAt(l, at)) {
      result.status = 'expired';
      for (const a of list) {
        violations.push({ license_id: l.id, resource_id: a.r.resource_id, kind: 'expired', assigned: [l.valid_from ?? null, l.valid_to ?? null], actual: at.toISOString(), evidence: [a.r.newest] });
      }
      continue;
    }

    const before = violations.length;
    for (const a of list) {
      const id = a.r.resource_id;
      const missing: string[] = [];
      if (!a.r.vcpus) missing.push('no sample at or before T gives the instance its vCPUs (resource_metadata.vcpus or flavor.vcpus); counted as 0');
      if (l.cores_per_instance !== undefined && a.r.vcpus && a.r.vcpus.value > l.cores_per_instance) {
        violations.push({ license_id: l.id, resource_id: id, kind: 'instance-cores-exceeded', assigned: l.cores_per_instance, actual: a.r.vcpus.value, evidence: [a.r.vcpus.sample] });
      }
      const checkHost = l.architecture !== undefined || l.cpu_models !== undefined;
      if (checkHost && !a.r.host) missing.push('the instance has no instance_host');
      else if (checkHost && !a.host) missing.push(`no sample of host ${a.r.host?.value} at or before T`);
      if (l.architecture !== undefined && a.host) {
        const arch = a.host.architecture;
        if (!arch) missing.push(`host ${a.host.resource_id} has no architecture fact`);
        else if (arch.value !== l.architecture) violations.push({ license_id: l.id, resource_id: id, kind: 'architecture-mismatch', assigned: l.architecture, actual: arch.value, evidence: hostEvidence(a, arch) });
      }
      if (l.cpu_models !== undefined && a.host) {
        const model = a.host.cpu_model;
        if (!model) missing.push(`host ${a.host.resource_id} has no cpu_model fact`);
        else if (!l.cpu_models.some((p) => globMatch(p, model.value))) violations.push({ license_id: l.id, resource_id: id, kind: 'cpu-model-mismatch', assigned: l.cpu_models, actual: model.value, evidence: hostEvidence(a, model) });
      }
      if (missing.length) unverified.push({ resource_id: id, license_id: l.id, reason: missing.join('; ') });
    }
    if (cores > l.cores) {
      violations.push({ license_id: l.id, resource_id: null, kind: 'cores-exceeded', assigned: l.cores, actual: cores, evidence: list.flatMap((a) => (a.r.vcpus ? [a.r.vcpus.sample] : [])) });
    }
    result.status = violations.length > before ? 'violation' : 'compliant';
  }

  for (const a of unmatched) {
    violations.push({ license_id: null, resource_id: a.r.resource_id, kind: 'unlicensed', assigned: null, actual: a.product, evidence: [a.r.newest] });
  }

  const instances: InstanceFinding[] = active.map((a) => {
    const r = a.r;
    const samples: InstanceFinding['samples'] = [{ ...r.newest, resource_id: r.resource_id, gave: 'activity, project, product' }];
    addEvidence(samples, r, r.vcpus, 'vcpus');
    addEvidence(samples, r, r.host, 'instance_host');
    if (a.host) {
      addEvidence(samples, a.host, a.host.cpu_model, 'cpu_model');
      addEvidence(samples, a.host, a.host.architecture, 'architecture');
      addEvidence(samples, a.host, a.host.cpu_cores, 'cpu_cores');
    }
    return {
      resource_id: r.resource_id,
      product: a.product,
      project_id: r.project_id,
      license_id: licenseOf.get(r.resource_id) ?? null,
      vcpus: r.vcpus?.value ?? null,
      host: r.host?.value ?? null,
      host_facts: { cpu_model: a.host?.cpu_model?.value ?? null, architecture: a.host?.architecture?.value ?? null, cpu_cores: a.host?.cpu_cores?.value ?? null },
      samples,
    };
  });

  return { at, active_window_s: windowS, violations, licenses: results, unverified, instances };
}

/** The instance's host sample (if any) and the sample that gave the host fact. */
function hostEvidence(a: Active, f: Fact<unknown>): SampleRef[] {
  return a.r.host ? [a.r.host.sample, f.sample] : [f.sample];
}

/** Add the sample behind a fact to an instance's evidence (once per sample, naming everything it gave). */
function addEvidence(samples: InstanceFinding['samples'], owner: ResourceFacts, f: Fact<unknown> | undefined, gave: string): void {
  if (!f) return;
  const same = samples.find((s) => s.id === f.sample.id && s.resource_id === owner.resource_id);
  if (same) same.gave += `, ${gave}`;
  else samples.push({ ...f.sample, resource_id: owner.resource_id, gave });
}

/** Exactly the `metering license check --json` shape. */
export function checkOutput(e: Evaluation) {
  return {
    at: e.at.toISOString(),
    violations: e.violations.map((v) => ({ license_id: v.license_id, resource_id: v.resource_id, kind: v.kind, assigned: v.assigned, actual: v.actual })),
    licenses: e.licenses.map((l) => ({ id: l.id, status: l.status, instances: l.instances, cores_used: l.cores_used })),
    unverified: e.unverified.map((u) => ({ resource_id: u.resource_id, license_id: u.license_id })),
  };
}

/** Identity of a violation across evaluations (an alert opens when it first appears and resolves when it goes). */
export const violationKey = (v: Pick<Violation, 'license_id' | 'resource_id' | 'kind'>): string => `${v.kind}|${v.license_id ?? ''}|${v.resource_id ?? ''}`;
