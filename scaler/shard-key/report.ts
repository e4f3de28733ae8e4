import type { KeyMeasurement, KeyScore } from './score';

export interface AdviceReport {
  generated_at: string;
  command: string;
  cluster: { shards: number; docs: number };
  recommended: string;
  ranking: (KeyScore & { measurement: KeyMeasurement })[];
}

export function buildReport(ms: readonly KeyMeasurement[], ranking: readonly KeyScore[], command: string, now = new Date()): AdviceReport {
  return {
    generated_at: now.toISOString(),
    command,
    cluster: { shards: ms[0]?.shards ?? 0, docs: ms[0]?.docs ?? 0 },
    recommended: ranking[0]?.label ?? '',
    ranking: ranking.map((r) => ({ ...r, measurement: ms.find((m) => JSON.stringify(m.key) === JSON.stringify(r.key))! })),
  };
}

const f = (v: number | undefined, d = 1) => (v === undefined ? 'n/a' : v.toFixed(d));

/** Markdown table of the measured figures and scores, most suitable key first. */
export function reportMarkdown(r: AdviceReport): string {
  const rows = r.ranking.map((x) => {
    const m = x.measurement;
    const chunks = Object.entries(m.chunksPerShard).map(([s, n]) => `${s}:${n}`).join(' ');
    return `| ${x.label} | ${f(x.score, 3)} | ${f(m.insertDocsPerSec, 0)} | ${f(m.insertP95Ms)} | ${f(m.writeSkew, 2)} | ${f(m.cvOwnedBytes, 3)} | ${chunks} | ${m.jumboChunks} | ${f(m.resourceRange.medianMs)} (${m.resourceRange.shardsTargeted}) | ${f(m.projectPeriod.medianMs)} (${m.projectPeriod.shardsTargeted}) | ${x.notes.join('; ')} |`;
  });
  return [
    `# Shard-key advice (measured ${r.generated_at})`,
    '',
    `Cluster: ${r.cluster.shards} shards, ${r.cluster.docs} generated samples per candidate. Command: \`${r.command}\``,
    '',
    `**Recommended: \`${r.recommended}\`**`,
    '',
    '| key | score | insert docs/s | batch p95 ms | write skew (max/mean) | CV owned bytes | chunks per shard | jumbo | resource+range ms (shards) | project+period ms (shards) | notes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
