import { describe, expect, it } from 'vitest';
import type { StoredSample } from '../../pipeline/sample';
import { avgObjSizeFromDbStats, bytesFor, FALLBACK_EVENT_BYTES, meterSize, SIZE_PRIORS, SizeTracker } from '../../estimator/event-size';
import { measurePriors } from '../../estimator/priors';
import { estimateFile, HOT } from './helpers';

const stored = (name: string, bson_size: number) => ({ counter_name: name, bson_size }) as StoredSample;

describe('size tracker (paper: mean of the last three values per meter, then mean across meters)', () => {
  it('keeps the last three stored sizes per meter, fed through the ingestion hook', () => {
    const t = new SizeTracker();
    expect(t.meterSize('cpu')).toBeUndefined();
    t.onStored([stored('cpu', 1000), stored('cpu', 1100), stored('memory.usage', 900)]);
    expect(t.meterSize('cpu')).toBe(1050);
    t.onStored([stored('cpu', 1200), stored('cpu', 1300)]);
    expect(t.meterSize('cpu')).toBe(1200); // (1100 + 1200 + 1300) / 3; 1000 dropped
    expect(t.overallAverage()).toBe((1200 + 900) / 2);
  });

  it('size sources in order: observed, configured override, measured prior, fallback', () => {
    const tracker = new SizeTracker();
    tracker.observe('cpu', 1500);
    const model = { method: 'per-meter' as const, tracker, overrides: { 'memory.usage': 999 } };
    expect(meterSize(model, 'cpu')).toEqual({ bytes: 1500, source: 'observed' });
    expect(meterSize(model, 'memory.usage')).toEqual({ bytes: 999, source: 'override' });
    expect(meterSize(model, 'power.state')).toEqual({ bytes: SIZE_PRIORS['power.state'], source: 'prior' });
    expect(meterSize(model, 'no.such.meter')).toEqual({ bytes: FALLBACK_EVENT_BYTES, source: 'fallback' });
    // a transformer output is sized from its source meter: cpu_util vs cpu → +5 name bytes, −1 unit byte ('%' vs 'ns')
    expect(meterSize({ method: 'per-meter' }, 'cpu_util', { from: 'cpu', unit: '%', fromUnit: 'ns' }).bytes).toBe(SIZE_PRIORS.cpu! + 4);
  });

  it('the embedded priors are what measuring the reference documents gives', () => {
    expect(measurePriors()).toEqual(SIZE_PRIORS);
  });

  it('an observed size changes the estimate', () => {
    const f = HOT('hot/hello_world.yaml');
    const prior = estimateFile(f);
    const tracker = new SizeTracker();
    for (const m of prior.meters) tracker.observe(m.name, 1000);
    const seen = estimateFile(f, { sizeModel: { method: 'per-meter', tracker } });
    expect(seen.avg_event_bytes).toBe(1000);
    expect(seen.bytes.per_day).toBe(seen.events.per_day * 1000);
    expect(seen.meters.every((m) => m.size_source === 'observed')).toBe(true);
    expect(prior.bytes.per_day).not.toBe(seen.bytes.per_day);
  });
});

describe('dbStats alternative (paper List 1)', () => {
  const paper = { objects: 2239713, avgObjSize: 1189.759382, dataSize: 2664719556 };

  it('2,239,713 objects × 1,189.759382 B = 2,664,719,556 B: avgObjSize is dataSize/objects, shown cut to 6 decimals', () => {
    const avg = avgObjSizeFromDbStats(paper);
    expect(avg.toFixed(6)).toBe('1189.759383'); // rounded; the shell printed the truncated 1189.759382
    expect(Math.trunc(avg * 1e6) / 1e6).toBe(1189.759382);
    expect(bytesFor(paper.objects, avg)).toBe(2664719556);
  });

  it('with only the displayed avgObjSize the product is within objects × 1e-6 B of dataSize', () => {
    const b = bytesFor(paper.objects, avgObjSizeFromDbStats({ objects: paper.objects, avgObjSize: paper.avgObjSize }));
    expect(b).toBe(2664719555);
    expect(Math.abs(b - paper.dataSize)).toBeLessThanOrEqual(Math.ceil(paper.objects * 1e-6));
  });

  it('dbstats size method: events × avgObjSize', () => {
    const e = estimateFile(HOT('hot/hello_world.yaml'), { sizeModel: { method: 'dbstats', dbStats: paper } });
    expect(e.avg_event_bytes).toBeCloseTo(2664719556 / 2239713, 6);
    expect(e.bytes.per_day).toBe(Math.round(e.events.per_day * (2664719556 / 2239713)));
  });
});
