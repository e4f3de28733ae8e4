import type { ShardKey } from '../config';

/** What the advisor measured for one candidate shard key on a real cluster. */
export interface KeyMeasurement {
  key: ShardKey;
  /** Sharded cluster size during the run. */
  shards: number;
  docs: number;
  insertDocsPerSec: number;
  insertP95Ms?: number;
  /** max / mean of per-shard Δopcounters.insert (1 = even; = shards when every insert hits one shard). */
  writeSkew?: number;
  /** Coefficient of variation of ownedSizeBytes ($shardedDataDistribution). */
  cvOwnedBytes: number;
  chunksPerShard: Record<string, number>;
  jumboChunks: number;
  /** Resource + time-range find (mediation). */
  resourceRange: { medianMs: number; shardsTargeted: number };
  /** Project + billing-period $group (rating). */
  projectPeriod: { medianMs: number; shardsTargeted: number };
}

export interface ScoreWeights {
  insert: number;
  writeSpread: number;
  dataSpread: number;
  resourceQuery: number;
  projectQuery: number;
}

/**
 * Default weights: ingestion throughput and even writes matter most for a metering store (samples
 * arrive continuously, every insert on one shard is the failure mode), then data spread, then the
 * mediation (resource) and rating (project) queries.
 */
export const DEFAULT_WEIGHTS: ScoreWeights = { insert: 0.3, writeSpread: 0.2, dataSpread: 0.2, resourceQuery: 0.2, projectQuery: 0.1 };

export interface KeyScore {
  key: ShardKey;
  label: string;
  score: number;
  components: Record<keyof ScoreWeights, number>;
  notes: string[];
}

export const keyLabel = (k: ShardKey): string => `{${Object.entries(k).map(([f, v]) => `${f}: ${typeof v === 'string' ? `"${v}"` : v}`).join(', ')}}`;

/**
 * Score candidates in [0, 1] (higher is better) relative to the best candidate of the run, and rank
 * them. Components:
 * - insert: docs/s ÷ best docs/s;
 * - writeSpread: 1 / writeSkew (falls back to dataSpread when not measured);
 * - dataSpread: 1 / (1 + CV of owned bytes), halved when any range is jumbo (the balancer cannot move it);
 * - resourceQuery: ½ · (best ms ÷ ms) + ½ · (1 ÷ shards targeted): mediation reads one resource and
 *   should hit one shard;
 * - projectQuery: best ms ÷ ms (a scatter to all shards is fine: that is in-place rating).
 */
export function scoreKeys(ms: readonly KeyMeasurement[], w: ScoreWeights = DEFAULT_WEIGHTS): KeyScore[] {
  if (ms.length === 0) return [];
  const best = {
    insert: Math.max(...ms.map((m) => m.insertDocsPerSec)),
    res: Math.min(...ms.map((m) => m.resourceRange.medianMs)),
    proj: Math.min(...ms.map((m) => m.projectPeriod.medianMs)),
  };
  const ratio = (a: number, b: number) => (b > 0 ? Math.min(1, a / b) : 1);
  const total = w.insert + w.writeSpread + w.dataSpread + w.resourceQuery + w.projectQuery;
  const scored = ms.map((m) => {
    const notes: string[] = [];
    const dataSpread = (1 / (1 + Math.max(0, m.cvOwnedBytes))) * (m.jumboChunks > 0 ? 0.5 : 1);
    if (m.jumboChunks > 0) notes.push(`${m.jumboChunks} jumbo range(s)`);
    const writeSpread = m.writeSkew !== undefined && m.writeSkew > 0 ? Math.min(1, 1 / m.writeSkew) : dataSpread;
    if (m.writeSkew !== undefined && m.shards > 1 && m.writeSkew >= m.shards * 0.9) notes.push('all inserts go to one shard');
    if (m.resourceRange.shardsTargeted <= 1) notes.push('resource queries target one shard');
    const components = {
      insert: ratio(m.insertDocsPerSec, best.insert),
      writeSpread,
      dataSpread,
      resourceQuery: 0.5 * ratio(best.res, m.resourceRange.medianMs) + 0.5 / Math.max(1, m.resourceRange.shardsTargeted),
      projectQuery: ratio(best.proj, m.projectPeriod.medianMs),
    };
    const score = (w.insert * components.insert + w.writeSpread * components.writeSpread + w.dataSpread * components.dataSpread + w.resourceQuery * components.resourceQuery + w.projectQuery * components.projectQuery) / total;
    return { key: m.key, label: keyLabel(m.key), score, components, notes };
  });
  return scored.sort((a, b) => b.score - a.score || a.label.localeCompare(b.label));
}
