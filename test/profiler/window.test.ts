import { mean } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { SlidingWindow } from '../../profiler/window';
import { prng } from '../../lib/random';

describe('SlidingWindow', () => {
  it('moving average equals simple-statistics mean over the same last n values', () => {
    const rand = prng(7);
    for (const n of [1, 2, 5, 12, 50]) {
      const w = new SlidingWindow(n);
      const all: number[] = [];
      for (let i = 0; i < 400; i++) {
        const v = rand() < 0.1 ? rand() * 1e9 : rand() * 100;
        w.push(v);
        all.push(v);
        const last = all.slice(-n);
        expect(w.count).toBe(last.length);
        expect(w.values()).toEqual(last);
        expect(w.mean).toBeCloseTo(mean(last), 6);
        expect(w.last).toBe(v);
      }
    }
  });

  it('is empty (NaN) before the first value and rejects non-finite values', () => {
    const w = new SlidingWindow(3);
    expect(Number.isNaN(w.mean)).toBe(true);
    expect(() => w.push(NaN)).toThrow(/finite/);
    expect(() => w.push(Infinity)).toThrow(/finite/);
    expect(() => new SlidingWindow(0)).toThrow(/positive integer/);
  });

  it('rebuilds from values keeping only the last capacity values', () => {
    const w = SlidingWindow.from(3, [1, 2, 3, 4, 5]);
    expect(w.values()).toEqual([3, 4, 5]);
    expect(w.mean).toBe(4);
    w.push(9);
    expect(w.values()).toEqual([4, 5, 9]);
  });
});
