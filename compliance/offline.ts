import { FactIndex, type FactSample } from './facts';
import type { License } from './license';
import { evaluate, type Evaluation } from './rules';

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
