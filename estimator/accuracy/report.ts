import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { barChartSvg } from '../../lib/plot';
import type { AccuracyReport } from './measure';

/** The accuracy report as JSON, markdown and an SVG bar chart of estimated vs actual stored bytes. */

const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
const n = (x: number) => x.toLocaleString('en-US');

export function accuracyMarkdown(r: AccuracyReport): string {
  const lines: string[] = [];
  lines.push('# Estimate vs actual: measured accuracy', '');
  lines.push(`- MongoDB: ${r.server} (tier ${r.tier}); actual bytes: ${r.actual_bytes_method}`);
  lines.push(`- Size model: ${r.size_model}; warm-up: ${r.warmup}`);
  lines.push(`- Simulated start ${r.start}; every poll of the period generated and ingested (no extrapolation)`);
  lines.push('- Events hold by construction here (the samples are generated from the estimator\'s own plan); the bytes are measured. The independent event check is test/estimator/accuracy/ceilometer-day.test.ts (samples made by Ceilometer\'s own pollsters)');
  lines.push(`- Target ${pct(r.target)} overall: **${r.met ? 'met' : 'NOT met'}** (events ${pct(r.overall.events.accuracy)}, bytes ${pct(r.overall.bytes.accuracy)}; priors only ${pct(r.overall.bytes_priors.accuracy)})`, '');
  lines.push('| template | period | interval s | series | events est. | events actual | events acc. | bytes est. (observed) | bytes actual | bytes acc. | bytes est. (priors) | priors acc. |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of r.cases) {
    lines.push(`| ${path.basename(c.template)} | ${c.period} | ${c.interval_s} | ${c.series} | ${n(c.events.estimated)} | ${n(c.events.actual)} | ${pct(c.events.accuracy)} | ${n(c.bytes.estimated)} | ${n(c.bytes.actual)} | ${pct(c.bytes.accuracy)} | ${n(c.bytes_priors.estimated)} | ${pct(c.bytes_priors.accuracy)} |`);
  }
  lines.push('', '| period | cases | events acc. | bytes acc. (observed) | bytes acc. (priors) | lowest case (observed) |', '|---|---:|---:|---:|---:|---:|');
  for (const [p, s] of Object.entries(r.per_period)) {
    lines.push(`| ${p} | ${s!.cases} | ${pct(s!.events.accuracy)} | ${pct(s!.bytes.accuracy)} | ${pct(s!.bytes_priors.accuracy)} | ${pct(s!.min.bytes)} |`);
  }
  const o = r.overall;
  lines.push(`| **all** | ${o.cases} | ${pct(o.events.accuracy)} | ${pct(o.bytes.accuracy)} | ${pct(o.bytes_priors.accuracy)} | ${pct(o.min.bytes)} |`, '');
  const cross = r.cases.filter((c) => c.stored.coll_size !== null);
  if (cross.length) {
    const agree = cross.every((c) => c.stored.coll_size === c.stored.bson_sum);
    lines.push(`Cross-check: the server's collStats size ${agree ? 'equals' : 'differs from'} the BSON-size sum of the stored documents${agree ? ' in every case' : ` (e.g. ${n(cross[0]!.stored.coll_size!)} vs ${n(cross[0]!.stored.bson_sum)} B)`}.`, '');
  }
  return lines.join('\n');
}

export function accuracySvg(r: AccuracyReport): string {
  const mib = (b: number) => Math.round((b / 2 ** 20) * 1000) / 1000;
  return barChartSvg({
    width: Math.max(720, 160 + r.cases.length * 110),
    height: 420,
    title: `Estimated vs stored bytes (accuracy ${pct(r.overall.bytes.accuracy)} with observed sizes)`,
    yLabel: 'MiB stored in the meter collection',
    categories: r.cases.map((c) => `${path.basename(c.template).replace(/\.ya?ml$/, '')} ${c.period}`),
    series: [
      { name: 'estimate (observed sizes)', values: r.cases.map((c) => mib(c.bytes.estimated)) },
      { name: 'estimate (priors only)', values: r.cases.map((c) => mib(c.bytes_priors.estimated)) },
      { name: 'actual', values: r.cases.map((c) => mib(c.bytes.actual)) },
    ],
  });
}

/** Write accuracy.json, accuracy.md and accuracy.svg into `dir`; returns the paths. */
export function writeAccuracyReport(r: AccuracyReport, dir: string): { json: string; markdown: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const out = { json: path.join(dir, 'accuracy.json'), markdown: path.join(dir, 'accuracy.md'), svg: path.join(dir, 'accuracy.svg') };
  writeFileSync(out.json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(out.markdown, accuracyMarkdown(r));
  writeFileSync(out.svg, accuracySvg(r));
  return out;
}
