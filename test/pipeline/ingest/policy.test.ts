import { describe, expect, it } from 'vitest';
import { admission, BackpressureError, StoreHealth, SubmissionTooLargeError } from '../../../pipeline/ingest/backpressure';
import { indexPlan, uniqueMessageKey } from '../../../pipeline/store/indexes';
import { groupByResource } from '../../../pipeline/store/resource';
import { prepareSample } from '../../../pipeline/store/layout';
import { resolveIngestionConfig } from '../../../pipeline/ingest/pipeline-factory';
import { storeConfig } from '../../../pipeline/config';
import { makeSample } from './helpers';

const { ingest, store } = resolveIngestionConfig({ ingest: { maxInFlightSamples: 100, maxInFlightBytes: 10_000, batchMaxSamples: 10, storeDownAfterFailures: 3, slowWriteMs: 500, retryInitialMs: 100, retryMaxMs: 4000 } });
const empty = { inFlightSamples: 0, inFlightBytes: 0, queuedSamples: 0 };

describe('back-pressure policy', () => {
  it('accepts while there is room, 429 when the buffer would overflow, 413 when a submission can never fit', () => {
    const h = new StoreHealth(ingest);
    expect(admission(ingest, h, empty, 100, 10_000, 1000)).toBeUndefined();
    const full = admission(ingest, h, { inFlightSamples: 95, inFlightBytes: 100, queuedSamples: 95 }, 10, 100, 1000);
    expect(full).toBeInstanceOf(BackpressureError);
    expect(full).toMatchObject({ status: 429, reason: 'buffer-full' });
    expect(admission(ingest, h, { inFlightSamples: 1, inFlightBytes: 9_990, queuedSamples: 1 }, 1, 20, 1000)).toMatchObject({ status: 429 });
    expect(admission(ingest, h, empty, 101, 10, 1000)).toBeInstanceOf(SubmissionTooLargeError);
  });

  it('answers 503 once consecutive write failures reach the threshold, and accepts again after one success', () => {
    const h = new StoreHealth(ingest);
    h.recordFailure();
    h.recordFailure();
    expect(admission(ingest, h, empty, 1, 10, 1000)).toBeUndefined();
    h.recordFailure();
    const down = admission(ingest, h, empty, 1, 10, 1000) as BackpressureError;
    expect(down).toMatchObject({ status: 503, reason: 'store-down' });
    expect(down.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(down.retryAfterSeconds).toBeLessThanOrEqual(4);
    h.recordSuccess(10);
    expect(admission(ingest, h, empty, 1, 10, 1000)).toBeUndefined();
  });

  it('pushes back (429) on a slow store only while a backlog of at least one batch exists', () => {
    const h = new StoreHealth(ingest);
    h.recordSuccess(2000);
    expect(h.slow).toBe(true);
    expect(admission(ingest, h, { inFlightSamples: 5, inFlightBytes: 50, queuedSamples: 5 }, 1, 10, 10)).toBeUndefined();
    expect(admission(ingest, h, { inFlightSamples: 20, inFlightBytes: 50, queuedSamples: 10 }, 1, 10, 10)).toMatchObject({ status: 429, reason: 'store-slow' });
  });

  it('backs off exponentially up to the cap', () => {
    const h = new StoreHealth(ingest);
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => h.backoffMs(a, mid))).toEqual([100, 200, 400, 800, 1600, 3200, 4000]);
  });
});

describe('unique message-id index', () => {
  it('is plain {message_id} unsharded and shard-key-prefixed when sharded (hashed fields as ascending)', () => {
    expect(uniqueMessageKey(store)).toEqual({ project_id: 1, message_id: 1 });
    expect(uniqueMessageKey({ ...store, sharded: true })).toEqual({ resource_id: 1, timestamp: 1, message_id: 1 });
    expect(uniqueMessageKey({ sharded: true, shardKey: { timestamp: 1 } })).toEqual({ timestamp: 1, message_id: 1 });
    expect(uniqueMessageKey({ sharded: true, shardKey: { project_id: 1, message_id: 'hashed' } })).toEqual({ project_id: 1, message_id: 1 });
  });

  it('names an unknown shard-key field', () => {
    expect(() => uniqueMessageKey({ sharded: true, shardKey: { resource: 'hashed' } })).toThrow(/store\.shardKey: field 'resource' is not a meter field/);
  });

  it('plans TTL indexes only for a positive ttl', () => {
    expect(indexPlan(store).map((i) => i.name)).not.toContain('meter_ttl');
    const ttl = indexPlan({ ...store, ttlSeconds: 60 }).filter((i) => i.expireAfterSeconds === 60).map((i) => `${i.collection}.${i.name}`);
    expect(ttl).toEqual(['meter.meter_ttl', 'resource.resource_ttl']);
  });

  it('rejects a shard key with two hashed fields in the configuration', () => {
    expect(() => storeConfig.parse({ shardKey: { a: 'hashed', b: 'hashed' } })).toThrow(/at most one hashed/);
  });
});

describe('resource grouping', () => {
  it('takes first/last over the group, the newest sample for metadata and each meter once', () => {
    const t = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));
    const g = groupByResource(
      [
        makeSample({ resource_id: 'b', timestamp: t(5), resource_metadata: { n: 5 } }),
        makeSample({ resource_id: 'a', timestamp: t(9), resource_metadata: { n: 9 } }),
        makeSample({ resource_id: 'a', timestamp: t(1), resource_metadata: { n: 1 }, counter_name: 'memory', counter_unit: 'MB' }),
        makeSample({ resource_id: 'a', timestamp: t(4), resource_metadata: { n: 4 } }),
      ].map((s) => prepareSample(s)),
    );
    expect(g.map((x) => x.resourceId)).toEqual(['a', 'b']);
    expect(g[0]!.first).toEqual(t(1));
    expect(g[0]!.last).toEqual(t(9));
    expect(g[0]!.newest.sample.resource_metadata).toEqual({ n: 9 });
    expect(g[0]!.meters.map((m) => m.counter_name)).toEqual(['cpu_util', 'memory']);
  });
});
