import { describe, expect, it } from 'vitest';
import { median, percentile } from '../../lib/stats';

describe('median and nearest-rank percentile', () => {
  it('median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('percentile is nearest-rank', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([7], 1)).toBe(7);
  });

  it('says "not measured" (NaN) for no values', () => {
    expect(median([])).toBeNaN();
    expect(percentile([], 99)).toBeNaN();
  });
});
