import { describe, expect, it } from 'vitest';
import { buildReport, reportMarkdown } from '../../scaler/shard-key/report';
import { shardsInExplain } from '../../scaler/shard-key/runner';
import { DEFAULT_GEN, generateSamples } from '../../scaler/shard-key/samples';
import { keyLabel, scoreKeys, type KeyMeasurement } from '../../scaler/shard-key/score';

/** A candidate measured on 4 shards; override what a scenario varies. */
const m = (key: KeyMeasurement['key'], o: Partial<KeyMeasurement> = {}): KeyMeasurement => ({
  key,
  shards: 4,
  docs: 100_000,
  insertDocsPerSec: 20_000,
  writeSkew: 1.05,
  cvOwnedBytes: 0.05,
  chunksPerShard: { sh0: 1, sh1: 1, sh2: 1, sh3: 1 },
  jumboChunks: 0,
  resourceRange: { medianMs: 4, shardsTargeted: 1 },
  projectPeriod: { medianMs: 40, shardsTargeted: 4 },
  ...o,
});

describe('shard-key scoring', () => {
  it('ranks the monotonic {timestamp:1} key last when every insert lands on one shard', () => {
    const ranking = scoreKeys([
      m({ timestamp: 1 }, { insertDocsPerSec: 7_000, writeSkew: 4, cvOwnedBytes: 1.6, resourceRange: { medianMs: 9, shardsTargeted: 1 } }),
      m({ resource_id: 'hashed', timestamp: 1 }),
      m({ _id: 'hashed' }, { resourceRange: { medianMs: 11, shardsTargeted: 4 } }),
      m({ project_id: 1, resource_id: 1, timestamp: 1 }, { writeSkew: 1.8, cvOwnedBytes: 0.5, insertDocsPerSec: 15_000 }),
    ]);
    expect(ranking[0]!.label).toBe('{resource_id: "hashed", timestamp: 1}');
    expect(ranking.at(-1)!.label).toBe('{timestamp: 1}');
    // {_id: hashed} loses to the recommended key only on resource queries (scattered to all 4 shards)
    const id = ranking.find((r) => r.label === '{_id: "hashed"}')!;
    expect(id.components.resourceQuery).toBeLessThan(ranking[0]!.components.resourceQuery);
    expect(id.components.insert).toBe(ranking[0]!.components.insert);
    expect(ranking.at(-1)!.notes).toContain('all inserts go to one shard');
    expect(ranking[0]!.notes).toContain('resource queries target one shard');
  });

  it('halves the spread score of a key with jumbo ranges', () => {
    const [a, b] = scoreKeys([m({ counter_name: 1 }, { jumboChunks: 3 }), m({ resource_id: 1 })]);
    expect(a!.label).toBe('{resource_id: 1}');
    expect(b!.components.dataSpread).toBeCloseTo(a!.components.dataSpread / 2);
    expect(b!.notes).toContain('3 jumbo range(s)');
  });

  it('is monotonic: improving one measured figure never lowers a score', () => {
    const base = [m({ a: 1 }), m({ b: 1 }, { insertDocsPerSec: 10_000, cvOwnedBytes: 0.4 })];
    const s0 = scoreKeys(base).find((r) => r.label === '{b: 1}')!.score;
    for (const better of [{ insertDocsPerSec: 15_000 }, { cvOwnedBytes: 0.1 }, { writeSkew: 1.0 }, { resourceRange: { medianMs: 2, shardsTargeted: 1 } }, { projectPeriod: { medianMs: 10, shardsTargeted: 4 } }]) {
      const s1 = scoreKeys([base[0]!, { ...base[1]!, ...better }]).find((r) => r.label === '{b: 1}')!.score;
      expect(s1).toBeGreaterThanOrEqual(s0);
    }
  });

  it('scores identical measurements equally and stays in [0, 1]', () => {
    const r = scoreKeys([m({ x: 1 }), m({ y: 1 })]);
    expect(r[0]!.score).toBeCloseTo(r[1]!.score);
    expect(r.every((x) => x.score > 0 && x.score <= 1)).toBe(true);
    expect(scoreKeys([])).toEqual([]);
  });

  it('writes a markdown table with the recommended key first', () => {
    const ms = [m({ timestamp: 1 }, { writeSkew: 4, insertDocsPerSec: 5000 }), m({ resource_id: 'hashed', timestamp: 1 })];
    const md = reportMarkdown(buildReport(ms, scoreKeys(ms), 'metering scaler advise-key --uri mongodb://127.0.0.1:28001/'));
    expect(md).toContain('**Recommended: `{resource_id: "hashed", timestamp: 1}`**');
    const rows = md.split('\n').filter((l) => l.startsWith('| {'));
    expect(rows[0]).toContain('resource_id');
    expect(rows[1]).toContain('| 5000 |');
  });
});

describe('explain targeting (recorded mongos explain shapes)', () => {
  it('counts shards in find and aggregate explains', () => {
    expect(shardsInExplain({ queryPlanner: { mongosPlannerVersion: 1, winningPlan: { stage: 'SINGLE_SHARD', shards: [{ shardName: 'sh1' }] } } })).toBe(1);
    expect(shardsInExplain({ queryPlanner: { winningPlan: { stage: 'SHARD_MERGE', shards: [{ shardName: 'sh0' }, { shardName: 'sh1' }, { shardName: 'sh2' }] } } })).toBe(3);
    expect(shardsInExplain({ mergeType: 'mongos', splitPipeline: { shardsPart: [], mergerPart: [] }, shards: { sh0: {}, sh1: {} } })).toBe(2);
    expect(shardsInExplain({ queryPlanner: { winningPlan: { stage: 'COLLSCAN' } } })).toBe(1);
  });
});

describe('generated samples for the harness', () => {
  it('are deterministic, monotonic in time and Zipf-skewed over resources', () => {
    const a = [...generateSamples(5000)];
    const b = [...generateSamples(5000)];
    expect(a).toEqual(b);
    for (let i = 1; i < a.length; i++) expect((a[i]!.timestamp as Date).getTime()).toBeGreaterThan((a[i - 1]!.timestamp as Date).getTime());
    const counts = new Map<string, number>();
    for (const s of a) counts.set(s.resource_id as string, (counts.get(s.resource_id as string) ?? 0) + 1);
    const top = counts.get('instance-000000') ?? 0;
    // Zipf(1) over 2000 resources: the busiest gets ~1/H(2000) ≈ 12% of samples, the median one almost none
    expect(top / a.length).toBeGreaterThan(0.08);
    expect(top / a.length).toBeLessThan(0.16);
    expect(counts.size).toBeGreaterThan(500);
    // each resource belongs to exactly one project
    const owner = new Map<string, string>();
    for (const s of a) {
      const prev = owner.get(s.resource_id as string);
      if (prev) expect(s.project_id).toBe(prev);
      owner.set(s.resource_id as string, s.project_id as string);
    }
    expect(DEFAULT_GEN.projects).toBe(new Set(a.map((s) => s.project_id)).size);
    expect(keyLabel({ resource_id: 'hashed', timestamp: 1 })).toBe('{resource_id: "hashed", timestamp: 1}');
  });
});
