import { lineChartSvg, type Series } from '../lib/plot';
import type { SampleRef } from './facts';
import type { License } from './license';
import type { Evaluation, LicenseStatus, ViolationKind } from './rules';
import type { CoresSeries } from './series';

/**
 * The read-only compliance report: the evaluation at T with every finding tied to the samples it
 * rests on (ids and times, so an auditor can fetch them), the licence versions used, and cores used
 * vs licensed over time. Rendered as JSON, CSV or a self-contained HTML page with an SVG chart.
 */

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const ref = (s: SampleRef) => ({ id: s.id, timestamp: s.timestamp.toISOString() });

/** Where the report's inputs came from. */
export interface ReportSource {
  /** e.g. `file:licenses.yaml`, or `store` when the licences are the store's records. */
  licenses: string;
  /** e.g. `file:samples.json`, or `store:<database>.meter`. */
  samples: string;
  /** Licence versions used (store records), when known. */
  license_versions?: Array<{ id: string; version: number; hash: string }>;
}

export function buildReport(licenses: readonly License[], e: Evaluation, series: CoresSeries | undefined, source: ReportSource, generatedAt = new Date()) {
  const byStatus: Record<LicenseStatus, number> = { compliant: 0, violation: 0, expired: 0, unused: 0 };
  for (const l of e.licenses) byStatus[l.status]++;
  const byKind: Partial<Record<ViolationKind, number>> = {};
  for (const v of e.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  const samples = new Map<string, { id: string; resource_id: string; timestamp: string }>();
  for (const i of e.instances) for (const s of i.samples) samples.set(`${s.resource_id}\u0000${s.id}`, { id: s.id, resource_id: s.resource_id, timestamp: s.timestamp.toISOString() });
  const def = new Map(licenses.map((l) => [l.id, l]));
  return {
    report: 'license-compliance' as const,
    generated_at: generatedAt.toISOString(),
    at: e.at.toISOString(),
    active_window_s: e.active_window_s,
    source,
    summary: { licenses: e.licenses.length, instances: e.instances.length, violations: e.violations.length, unverified: e.unverified.length, licenses_by_status: byStatus, violations_by_kind: byKind },
    violations: e.violations.map((v) => ({ license_id: v.license_id, resource_id: v.resource_id, kind: v.kind, assigned: v.assigned, actual: v.actual, samples: v.evidence.map(ref) })),
    licenses: e.licenses.map((r) => {
      const l = def.get(r.id)!;
      return { ...r, product: l.product, cores: l.cores, cores_per_instance: l.cores_per_instance ?? null, architecture: l.architecture ?? null, cpu_models: l.cpu_models ?? null, valid_from: l.valid_from ?? null, valid_to: l.valid_to ?? null, match: l.match };
    }),
    unverified: e.unverified.map((u) => ({ ...u })),
    instances: e.instances.map((i) => ({ ...i, samples: i.samples.map((s) => ({ id: s.id, resource_id: s.resource_id, timestamp: s.timestamp.toISOString(), gave: s.gave })) })),
    samples: [...samples.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : 1)),
    series: series ? { points: series.points.map((p) => p.toISOString()), licenses: series.licenses } : null,
  };
}

export type ComplianceReport = ReturnType<typeof buildReport>;

/**
 * The part of a report a project-scoped reader may see: instances of that project, findings about
 * them, and the licences restricted to that project (`match.project_id`), with their licence-wide
 * findings and series.
 */
export function scopeReport(r: ComplianceReport, project: string): ComplianceReport {
  const mine = new Set(r.instances.filter((i) => i.project_id === project).map((i) => i.resource_id));
  const lic = new Set(r.licenses.filter((l) => l.match.project_id === project).map((l) => l.id));
  const instances = r.instances.filter((i) => mine.has(i.resource_id));
  const violations = r.violations.filter((v) => (v.resource_id !== null ? mine.has(v.resource_id) : v.license_id !== null && lic.has(v.license_id)));
  const unverified = r.unverified.filter((u) => mine.has(u.resource_id));
  const licenses = r.licenses.filter((l) => lic.has(l.id));
  const keep = new Set(instances.flatMap((i) => i.samples.map((s) => `${s.resource_id}\u0000${s.id}`)));
  const byStatus: Record<LicenseStatus, number> = { compliant: 0, violation: 0, expired: 0, unused: 0 };
  for (const l of licenses) byStatus[l.status]++;
  const byKind: Partial<Record<ViolationKind, number>> = {};
  for (const v of violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  return {
    ...r,
    source: { ...r.source, ...(r.source.license_versions ? { license_versions: r.source.license_versions.filter((v) => lic.has(v.id)) } : {}) },
    summary: { licenses: licenses.length, instances: instances.length, violations: violations.length, unverified: unverified.length, licenses_by_status: byStatus, violations_by_kind: byKind },
    violations,
    licenses,
    unverified,
    instances,
    samples: r.samples.filter((s) => keep.has(`${s.resource_id}\u0000${s.id}`)),
    series: r.series ? { points: r.series.points, licenses: r.series.licenses.filter((l) => lic.has(l.id)) } : null,
  };
}

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // a leading = + - @ would run as a formula in a spreadsheet
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export const CSV_COLUMNS = ['finding', 'license_id', 'resource_id', 'assigned', 'actual', 'product', 'project_id', 'vcpus', 'host', 'host_architecture', 'host_cpu_model', 'sample_ids', 'sample_times', 'at'] as const;

/** One row per finding: each violation, each unverified instance, each compliant instance (`finding` = kind, `unverified` or `ok`). */
export function reportToCsv(r: ComplianceReport): string {
  const inst = new Map(r.instances.map((i) => [i.resource_id, i]));
  const rows: unknown[][] = [[...CSV_COLUMNS]];
  const row = (finding: string, license: string | null, resource: string | null, assigned: unknown, actual: unknown, samples: Array<{ id: string; timestamp: string }>) => {
    const i = resource ? inst.get(resource) : undefined;
    rows.push([finding, license, resource, assigned, actual, i?.product, i?.project_id, i?.vcpus, i?.host, i?.host_facts.architecture, i?.host_facts.cpu_model, samples.map((s) => s.id).join(' '), samples.map((s) => s.timestamp).join(' '), r.at]);
  };
  for (const v of r.violations) row(v.kind, v.license_id, v.resource_id, v.assigned, v.actual, v.samples);
  const flagged = new Set(r.violations.map((v) => v.resource_id));
  for (const u of r.unverified) row('unverified', u.license_id, u.resource_id, null, u.reason, inst.get(u.resource_id)?.samples ?? []);
  const unv = new Set(r.unverified.map((u) => u.resource_id));
  for (const i of r.instances) if (!flagged.has(i.resource_id) && !unv.has(i.resource_id) && i.license_id !== null) row('ok', i.license_id, i.resource_id, null, null, i.samples);
  return rows.map((x) => x.map(csvCell).join(',')).join('\n') + '\n';
}

const esc = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
};

function table(head: string[], rows: unknown[][]): string {
  if (!rows.length) return '<p class="none">none</p>';
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}

/** The chart: per licence, cores used over time against the licensed cores. */
export function seriesChartSvg(r: ComplianceReport): string | undefined {
  const s = r.series;
  if (!s || s.points.length < 2 || s.licenses.length === 0) return undefined;
  const xs = s.points.map((p) => new Date(p));
  const series: Series[] = s.licenses.flatMap((l) => [
    { name: `${l.id} used`, points: l.cores_used.map((y, i) => ({ x: xs[i]!, y })) },
    { name: `${l.id} licensed`, points: xs.map((x) => ({ x, y: l.cores })) },
  ]);
  return lineChartSvg({ width: 900, height: 360, title: 'vCPUs used vs licensed', xLabel: 'time (UTC)', yLabel: 'vCPUs', series });
}

export function reportToHtml(r: ComplianceReport, title = 'Licence compliance'): string {
  const chart = seriesChartSvg(r);
  const s = r.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}h2{font-size:1.1em;margin-top:1.6em}table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}.none{color:#777}.bad{color:#b00}</style>
</head><body><h1>${esc(title)}</h1>
<p>At <b>${esc(r.at)}</b> (active window ${esc(r.active_window_s)} s); generated ${esc(r.generated_at)}; licences from ${esc(r.source.licenses)}, samples from ${esc(r.source.samples)}. Read-only: this page changes nothing.</p>
<p>${s.licenses} licences (${Object.entries(s.licenses_by_status).map(([k, v]) => `${v} ${k}`).join(', ')}), ${s.instances} active licensed-product instances, <span class="${s.violations ? 'bad' : ''}">${s.violations} violations</span>, ${s.unverified} unverified.</p>
${chart ?? '<p class="none">no chart (fewer than two points or no licences)</p>'}
<h2>Violations</h2>
${table(['kind', 'licence', 'resource', 'assigned', 'actual', 'samples'], r.violations.map((v) => [v.kind, v.license_id, v.resource_id, v.assigned, v.actual, v.samples.map((x) => `${x.id} @ ${x.timestamp}`).join('; ')]))}
<h2>Licences</h2>
${table(['licence', 'product', 'status', 'cores used', 'cores', 'per instance', 'architecture', 'CPU models', 'valid', 'instances'], r.licenses.map((l) => [l.id, l.product, l.status, l.cores_used, l.cores, l.cores_per_instance, l.architecture, l.cpu_models, `${l.valid_from ?? '…'} – ${l.valid_to ?? '…'}`, l.instances.join(', ')]))}
<h2>Unverified (host facts missing)</h2>
${table(['resource', 'licence', 'reason'], r.unverified.map((u) => [u.resource_id, u.license_id, u.reason]))}
<h2>Instances</h2>
${table(['resource', 'product', 'project', 'licence', 'vCPUs', 'host', 'architecture', 'CPU model', 'host cores'], r.instances.map((i) => [i.resource_id, i.product, i.project_id, i.license_id, i.vcpus, i.host, i.host_facts.architecture, i.host_facts.cpu_model, i.host_facts.cpu_cores]))}
<h2>Samples this report rests on</h2>
${table(['sample id', 'resource', 'timestamp'], r.samples.map((x) => [x.id, x.resource_id, x.timestamp]))}
</body></html>
`;
}

export function renderReport(r: ComplianceReport, format: ReportFormat): { body: string; contentType: string } {
  if (format === 'csv') return { body: reportToCsv(r), contentType: 'text/csv; charset=utf-8' };
  if (format === 'html') return { body: reportToHtml(r), contentType: 'text/html; charset=utf-8' };
  return { body: JSON.stringify(r), contentType: 'application/json; charset=utf-8' };
}
