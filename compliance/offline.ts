import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { buildReport, type ComplianceReport, type ReportSource } from './report';
import { evaluate, type Evaluation } from './rules';
import { CoresSeriesBuilder, seriesPoints } from './series';

/**
 * The rules over a list of samples in memory (a samples file, a test): the samples after T are
 * dropped, the rest folded into one FactIndex, then `evaluate` at T. T defaults to the newest sample's
 * time (the current time when there are no samples).
 */
export function evaluateSamples(licenses: readonly License[], samples: Iterable<FactSample>, opts: { at?: Date; activeWindowS?: number } = {}): Evaluation {
  const list = [...samples];
  let at = opts.at;
  if (!at) {
    let newest = -Infinity;
    for (const s of list) newest = Math.max(newest, s.timestamp.getTime());
    at = Number.isFinite(newest) ? new Date(newest) : new Date();
  }
  const index = new FactIndex();
  const t = at.getTime();
  for (const s of list) if (s.timestamp.getTime() <= t) index.observe(s);
  return evaluate(licenses, index, { at, ...(opts.activeWindowS !== undefined ? { activeWindowS: opts.activeWindowS } : {}) });
}

/** The compliance report over samples in memory: the evaluation at T and cores used vs licensed at `points` instants over `spanS` before T. */
export function reportOverSamples(licenses: readonly License[], samples: Iterable<FactSample>, source: ReportSource, opts: { at?: Date; activeWindowS?: number; spanS?: number; points?: number } = {}): ComplianceReport {
  const list = [...samples].sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
  const windowS = opts.activeWindowS ?? 3600;
  const e = evaluateSamples(licenses, list, { ...opts, activeWindowS: windowS });
  const builder = new CoresSeriesBuilder(licenses, seriesPoints(e.at, opts.spanS ?? 86_400, opts.points ?? 48), windowS);
  const t = e.at.getTime();
  for (const s of list) if (s.timestamp.getTime() <= t) builder.add(s);
  return buildReport(licenses, e, builder.finish(), source);
}
