import { describe, expect, it } from 'vitest';
import { barChartSvg, lineChartSvg, niceTicks, textBars } from '../../lib/plot';

describe('plots', () => {
  it('picks round axis ticks that cover the data', () => {
    expect(niceTicks(0, 97)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0, 1.2)).toEqual([0, 0.5, 1, 1.5]);
    expect(niceTicks(-3, 3)).toEqual([-4, -2, 0, 2, 4]);
  });

  it('draws one bar per category and series, scaled to the largest value', () => {
    const svg = barChartSvg({ title: 'estimate vs actual', width: 600, height: 300, categories: ['day', 'week'], series: [{ name: 'estimate', values: [10, 70] }, { name: 'actual', values: [10, 69] }] });
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>/g)].map((m) => Number(m[2]));
    expect(bars).toHaveLength(4);
    // bars go category by category: [day estimate, day actual, week estimate, week actual]
    expect(bars[2]! / bars[0]!).toBeCloseTo(7, 1);
    expect(svg).toContain('<title>actual week: 69</title>');
  });

  it('draws a path per series over time', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const svg = lineChartSvg({ title: 'cpu', width: 600, height: 300, series: [{ name: 'vm1', points: [0, 1, 2].map((i) => ({ x: new Date(t0 + i * 60000), y: i * 10 })) }] });
    expect(svg.match(/<path d="M[^"]+"/g)).toHaveLength(1);
    expect(svg).toContain('2026-01-01 00:00');
  });

  it('renders terminal bars proportional to value', () => {
    const out = textBars([{ label: 'shard0', value: 100 }, { label: 'shard1', value: 25 }], 20).split('\n');
    expect(out[0]!.match(/█/g)).toHaveLength(20);
    expect(out[1]!.match(/█/g)).toHaveLength(5);
  });
});
