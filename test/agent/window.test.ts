import { readFileSync } from 'node:fs';
import path from 'node:path';
import { max, min } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { metricKey, splitMetricKey, type MetricDef, type Poll } from '../../agent/metrics';
import { windowSample } from '../../agent/samples';
import { WindowAggregator, type WindowSummary } from '../../agent/window';
import { REPO } from '../support/paths';

/** 25 polls of this machine, one a second, recorded with HostProbe.poll (test/fixtures/agent/polls.jsonl). */
const POLLS: Poll[] = readFileSync(path.join(REPO, 'test/fixtures/agent/polls.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { t: number; values: Record<string, number> })
  .map((p) => ({ t: p.t, values: new Map(Object.entries(p.values)) }));

const T0 = POLLS[0]!.t; // a multiple of 10 s

function aggregate(windowMs: number, polls: Poll[], closeAt: number): WindowSummary[] {
  const agg = new WindowAggregator(windowMs);
  const out: WindowSummary[] = [];
  for (const p of polls) out.push(...agg.add(p));
  out.push(...agg.closeUntil(closeAt));
  return out;
}

describe('window aggregation on recorded polls', () => {
  it('gives one summary per metric per window with exact count, min, max, avg and last of the polls inside [start, end)', () => {
    expect(POLLS).toHaveLength(25);
    const out = aggregate(10_000, POLLS, T0 + 30_000);
    const keys = new Set(POLLS.flatMap((p) => [...p.values.keys()]));
    expect(keys.size).toBeGreaterThan(20);
    for (const [w, start] of [0, 10_000, 20_000].entries()) {
      const inside = POLLS.filter((p) => p.t >= T0 + start && p.t < T0 + start + 10_000);
      expect(inside).toHaveLength(w < 2 ? 10 : 5);
      for (const key of keys) {
        const values = inside.filter((p) => p.values.has(key)).map((p) => p.values.get(key)!);
        const s = out.find((x) => x.key === key && x.start === T0 + start);
        if (values.length === 0) {
          expect(s).toBeUndefined(); // CPU utilisation has no value on the very first poll
          continue;
        }
        expect(s, `${key} window ${w}`).toBeDefined();
        expect(s!.end).toBe(T0 + start + 10_000);
        expect(s!.count).toBe(values.length);
        expect(s!.min).toBe(min(values));
        expect(s!.max).toBe(max(values));
        expect(s!.avg).toBe(values.reduce((a, b) => a + b, 0) / values.length);
        expect(s!.last).toBe(values.at(-1));
      }
    }
    // nothing outside the three windows, nothing twice
    expect(new Set(out.map((s) => `${s.key}@${s.start}`)).size).toBe(out.length);
    expect(out.every((s) => [T0, T0 + 10_000, T0 + 20_000].includes(s.start))).toBe(true);
  });

  it('the first poll has no CPU utilisation (a rate needs two readings); every later poll has it', () => {
    const cpu = metricKey('hardware.cpu.util', 'recorded-host');
    expect(POLLS[0]!.values.has(cpu)).toBe(false);
    for (const p of POLLS.slice(1)) expect(p.values.get(cpu)).toBeGreaterThanOrEqual(0);
  });

  it('aligns windows to multiples of the length: a poll at the boundary opens the next window; a window closes at its end without waiting for a poll', () => {
    const k = 'm\u001fr';
    const agg = new WindowAggregator(60_000);
    const at = (t: number, v: number): Poll => ({ t, values: new Map([[k, v]]) });
    expect(agg.add(at(120_000 + 1, 1))).toEqual([]);
    expect(agg.add(at(150_000, 2))).toEqual([]);
    expect(agg.add(at(179_999, 4))).toEqual([]);
    expect(agg.closeUntil(179_999)).toEqual([]);
    const closed = agg.add(at(180_000, 8));
    expect(closed).toEqual([{ key: k, start: 120_000, end: 180_000, count: 3, min: 1, max: 4, avg: 7 / 3, last: 4 }]);
    expect(agg.closeUntil(240_000)).toEqual([{ key: k, start: 180_000, end: 240_000, count: 1, min: 8, max: 8, avg: 8, last: 8 }]);
    expect(() => agg.add(at(100_000, 1))).not.toThrow(); // nothing open any more: a new window
    expect(() => agg.add(at(50_000, 1))).toThrow(/before the open window/);
    expect(() => new WindowAggregator(0)).toThrow(/positive/);
  });
});

describe('window samples (Ceilometer)', () => {
  const host = 'recorded-host';
  const out = aggregate(10_000, POLLS, T0 + 30_000);
  const facts = { host, cpu_model: 'AMD EPYC', architecture: 'x86_64', cpu_cores: 2, memory_total_bytes: 1 };
  const sampleOf = (name: string, rid: string, type: MetricDef['type'], start = T0) => {
    const w = out.find((s) => s.key === metricKey(name, rid) && s.start === start)!;
    return { w, s: windowSample(w, { name, type, unit: 'x', resource_id: rid }, { resource_id: rid, kind: 'host', project_id: null, user_id: null, metadata: facts }, host, 'metering-agent') };
  };

  it('a gauge publishes the window average, a cumulative counter its last reading; resource_metadata has the host facts and the window', () => {
    const { w, s } = sampleOf('hardware.memory.used', host, 'gauge');
    expect(s.counter_volume).toBe(w.avg);
    expect(s.timestamp.getTime()).toBe(w.end);
    expect(s.resource_metadata).toMatchObject({ cpu_model: 'AMD EPYC', architecture: 'x86_64', cpu_cores: 2, window: { start: new Date(T0).toISOString(), end: new Date(T0 + 10_000).toISOString(), count: 10, min: w.min, max: w.max, avg: w.avg, last: w.last } });
    const nic = [...new Set(out.map((x) => splitMetricKey(x.key)).filter((x) => x.name === 'hardware.network.incoming.bytes').map((x) => x.resource_id))][0]!;
    const c = sampleOf('hardware.network.incoming.bytes', nic, 'cumulative');
    expect(c.s.counter_type).toBe('cumulative');
    expect(c.s.counter_volume).toBe(c.w.last);
  });

  it('message ids are the same when a window is computed again and differ between windows and metrics', () => {
    const a = sampleOf('hardware.memory.used', host, 'gauge').s.message_id;
    expect(sampleOf('hardware.memory.used', host, 'gauge').s.message_id).toBe(a);
    expect(sampleOf('hardware.memory.used', host, 'gauge', T0 + 10_000).s.message_id).not.toBe(a);
    expect(sampleOf('hardware.memory.avail', host, 'gauge').s.message_id).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
