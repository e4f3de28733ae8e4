import type { Estimate } from './estimate';

/** Human-readable report of an estimate (the non-JSON CLI output). */
export function formatEstimate(e: Estimate): string {
  const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 2 });
  const mb = (x: number) => `${n(x)} B (${(x / 1024 ** 2).toFixed(1)} MiB)`;
  const lines: string[] = [];
  lines.push(`Stack ${e.stack} (${e.template})`);
  lines.push(`Polling: ${e.polling.file} [${e.polling.format}], meter catalog: ${e.catalog}`);
  lines.push('', 'Resources:');
  const types = Object.entries(e.resources).sort(([a], [b]) => a.localeCompare(b));
  const tw = Math.max(4, ...types.map(([t]) => t.length));
  for (const [t, c] of types) {
    const up = e.upper_bound?.resources[t];
    lines.push(`  ${t.padEnd(tw)}  ${String(c).padStart(5)}${up !== undefined && up !== c ? `  (max ${up})` : ''}`);
  }
  lines.push('', 'Meters:');
  const header = ['meter', 'series', 'interval s', 'events/day', 'bytes/event', 'size from'];
  const rows = e.meters.map((m) => [m.name, String(m.resources), String(m.interval_s), n(m.events_per_day), n(m.bytes_per_event), m.size_source]);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '  ' + r.map((c, i) => (i === 0 || i === 5 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  lines.push(fmt(header), fmt(w.map((x) => '-'.repeat(x))), ...rows.map(fmt));
  lines.push('', `Events: ${n(e.events.per_interval)} per ${e.events.interval_s} s interval, ${n(e.events.per_day)}/day, ${n(e.events.per_week)}/week, ${n(e.events.per_month)}/month (30 d)`);
  lines.push(`Average event size: ${n(e.avg_event_bytes)} B (mean of meters ${n(e.avg_event_bytes_mean_of_meters)} B, method ${e.size_method})`);
  lines.push(`Data: ${mb(e.bytes.per_day)}/day, ${mb(e.bytes.per_week)}/week, ${mb(e.bytes.per_month)}/month`);
  if (e.upper_bound) {
    const u = e.upper_bound;
    lines.push(`Upper bound (autoscaling groups at max_size): ${n(u.events.per_day)} events/day, ${mb(u.bytes.per_day)}/day, ${mb(u.bytes.per_month)}/month`);
  }
  if (e.warnings.length) lines.push('', 'Warnings:', ...e.warnings.map((w) => `  - ${w}`));
  return lines.join('\n') + '\n';
}
