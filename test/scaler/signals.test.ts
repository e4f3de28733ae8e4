import { Long } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { collStatsPerShard, coefficientOfVariation, dataDistribution, diskPercent, mergeObservations, opRates, osLoad, parseShardHost } from '../../scaler/signals';

/** serverStatus excerpts in the documented shape (opcounters are Long on 64-bit builds). */
const status = (sec: number, c: { insert: number; update: number; delete: number; query: number; getmore: number }, lat: { r: [number, number]; w: [number, number] }, extra: Record<string, unknown> = {}) => ({
  host: 'sh0-a:27018',
  pid: Long.fromNumber(4242),
  uptimeMillis: Long.fromNumber(sec * 1000 + 5000),
  localTime: new Date(Date.parse('2026-01-01T00:00:00Z') + sec * 1000),
  opcounters: { insert: Long.fromNumber(c.insert), query: Long.fromNumber(c.query), update: Long.fromNumber(c.update), delete: Long.fromNumber(c.delete), getmore: Long.fromNumber(c.getmore), command: Long.fromNumber(99) },
  opLatencies: {
    reads: { latency: Long.fromNumber(lat.r[0]), ops: Long.fromNumber(lat.r[1]), queryableEncryptionLatencyMicros: Long.ZERO },
    writes: { latency: Long.fromNumber(lat.w[0]), ops: Long.fromNumber(lat.w[1]) },
    commands: { latency: Long.ZERO, ops: Long.ZERO },
  },
  ok: 1,
  ...extra,
});

describe('serverStatus deltas', () => {
  const a = status(0, { insert: 1000, update: 100, delete: 0, query: 500, getmore: 20 }, { r: [1_000_000, 520], w: [300_000, 1100] });
  const b = status(10, { insert: 3000, update: 300, delete: 200, query: 1500, getmore: 20 }, { r: [6_000_000, 1520], w: [2_300_000, 3500] });

  it('turns opcounters into reads/s and writes/s and opLatencies (µs) into ms', () => {
    const r = opRates(a, b)!;
    expect(r.interval_s).toBe(10);
    expect(r.writes_per_s).toBe((2000 + 200 + 200) / 10);
    expect(r.reads_per_s).toBe(1000 / 10);
    expect(r.query_ms).toBeCloseTo(5_000_000 / 1000 / 1000); // 5 s of latency over 1000 reads = 5 ms
    expect(r.write_ms).toBeCloseTo(2_000_000 / 2400 / 1000);
  });

  it('refuses to compare across a restart, another process, or no elapsed time', () => {
    const restarted = { ...b, uptimeMillis: Long.fromNumber(1000), opcounters: { ...b.opcounters, insert: Long.fromNumber(5) } };
    expect(opRates(a, restarted)).toBeUndefined();
    expect(opRates(a, { ...b, pid: Long.fromNumber(7) })).toBeUndefined();
    expect(opRates(a, { ...b, host: 'other:1' })).toBeUndefined();
    expect(opRates(a, a)).toBeUndefined();
  });

  it('works without opLatencies (e.g. a stand-in server) and leaves query_ms out', () => {
    const { opLatencies: _a, ...a2 } = a;
    const { opLatencies: _b, ...b2 } = b;
    const r = opRates(a2, b2)!;
    expect(r.writes_per_s).toBe(240);
    expect(r.query_ms).toBeUndefined();
    expect(opRates({ localTime: a.localTime }, { localTime: b.localTime })).toBeUndefined();
  });
});

describe('$shardedDataDistribution', () => {
  // shape from the 8.0 reference page
  const docs = [
    { ns: 'config.system.sessions', shards: [{ shardName: 'sh0', numOrphanedDocs: 0, numOwnedDocuments: 18, ownedSizeBytes: 1782, orphanedSizeBytes: 0 }] },
    {
      ns: 'metering.meter',
      shards: [
        { shardName: 'sh1', numOrphanedDocs: 3, numOwnedDocuments: 3000, ownedSizeBytes: Long.fromNumber(3_000_000), orphanedSizeBytes: 3000 },
        { shardName: 'sh0', numOrphanedDocs: 0, numOwnedDocuments: 1000, ownedSizeBytes: 1_000_000, orphanedSizeBytes: 0 },
      ],
    },
  ];

  it('gives per-shard owned bytes and the coefficient of variation', () => {
    const d = dataDistribution(docs, 'metering.meter')!;
    expect(d.shards.map((s) => [s.shard, s.ownedBytes])).toEqual([['sh0', 1_000_000], ['sh1', 3_000_000]]);
    expect(d.totalBytes).toBe(4_000_000);
    expect(d.cv).toBeCloseTo(0.5); // mean 2M, stddev 1M
    expect(d.skew).toBeCloseTo(1.5);
  });

  it('counts shards that own nothing (a freshly added shard) in the spread', () => {
    const d = dataDistribution(docs, 'metering.meter', ['sh0', 'sh1', 'sh2'])!;
    expect(d.shards.find((s) => s.shard === 'sh2')!.ownedBytes).toBe(0);
    expect(d.cv).toBeCloseTo(coefficientOfVariation([1e6, 3e6, 0]));
    expect(d.cv).toBeGreaterThan(0.5);
    expect(dataDistribution(docs, 'metering.other')).toBeUndefined();
  });

  it('CV is 0 for an even spread or a single shard', () => {
    expect(coefficientOfVariation([5, 5, 5])).toBe(0);
    expect(coefficientOfVariation([7])).toBe(0);
  });
});

describe('$collStats, dbStats, listShards, OS load', () => {
  it('reads storageStats per shard', () => {
    const docs = [
      { ns: 'metering.meter', shard: 'sh0', host: 'h:1', localTime: new Date(), storageStats: { size: 1200, count: 1, avgObjSize: 1200, storageSize: 4096, totalIndexSize: 8192, indexSizes: { _id_: 4096 } } },
      { ns: 'metering.meter', shard: 'sh1', storageStats: { size: Long.fromNumber(2400), count: 2, avgObjSize: 1200, storageSize: 4096, totalIndexSize: 8192 } },
    ];
    expect(collStatsPerShard(docs).map((s) => [s.shard, s.size, s.count])).toEqual([['sh0', 1200, 1], ['sh1', 2400, 2]]);
  });

  it('dbStats fsUsedSize/fsTotalSize → disk percent; absent fields → undefined', () => {
    expect(diskPercent({ db: 'metering', dataSize: 2664719556, fsUsedSize: 45e9, fsTotalSize: 100e9, ok: 1 })).toEqual({ disk: 45, disk_total_bytes: 100e9 });
    expect(diskPercent({ db: 'metering', dataSize: 10 })).toBeUndefined();
  });

  it('parses listShards host strings', () => {
    expect(parseShardHost('sh1/127.0.0.1:28011,127.0.0.1:28021')).toEqual({ rs: 'sh1', hosts: ['127.0.0.1:28011', '127.0.0.1:28021'] });
  });

  it('maps VM utilisation to shard observations using the busiest member VM', () => {
    const t = new Date('2026-01-01T00:00:00Z');
    const obs = osLoad({ vmA: { cpu: 20, memory: 70 }, vmB: { cpu: 85, memory: 40 }, vmC: { cpu: 10 } }, { sh0: ['vmA', 'vmB'], sh1: ['vmC'], sh2: ['vmZ'] }, t);
    expect(obs).toEqual([
      { t, shard: 'sh0', cpu: 85, memory: 70 },
      { t, shard: 'sh1', cpu: 10 },
    ]);
    const merged = mergeObservations([...obs, { t, shard: 'sh0', writes_per_s: 12 }]);
    expect(merged.find((o) => o.shard === 'sh0')).toEqual({ t, shard: 'sh0', cpu: 85, memory: 70, writes_per_s: 12 });
  });
});
