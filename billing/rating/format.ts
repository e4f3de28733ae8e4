import type { RatingResult } from './rate';

function table(rows: string[][], rightAlign: Set<number>): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (rightAlign.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}

const day = (iso: string) => (iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z'));

/** Human-readable rendering of a rating: one block per project, then unrated usage. */
export function formatRating(r: RatingResult): string {
  const out: string[] = [];
  for (const p of r.projects) {
    out.push(`project ${p.project_id}${p.user_id !== undefined ? ` user ${p.user_id}` : ''}`);
    const rows = [['period', 'plan', 'meter', 'model', 'quantity', 'unit', 'billable', 'amount']];
    for (const l of p.lines) {
      rows.push([`${day(l.period_start)} → ${day(l.period_end)}`, l.plan_id, l.meter, l.model + (l.minimum_applied ? ' (min)' : ''), l.quantity, l.unit ?? '', l.billable, l.amount]);
    }
    rows.push(['total', '', '', '', '', '', '', `${p.total} ${p.currency}`]);
    out.push(...table(rows, new Set([4, 6, 7])).map((l) => `  ${l}`), '');
  }
  if (r.unrated.length > 0) {
    out.push('unrated usage');
    for (const u of r.unrated) out.push(`  ${u.project_id}${u.user_id !== undefined ? `/${u.user_id}` : ''} ${u.meter} ${u.quantity} (${day(u.period_start)} → ${day(u.period_end)}): ${u.reason}`);
    out.push('');
  }
  if (r.projects.length === 0 && r.unrated.length === 0) out.push('no usage to rate', '');
  return out.join('\n');
}
