import { describe, expect, it } from 'vitest';
import { parseIsoInstant } from '../../lib/instant';

describe('ISO 8601 instants as operators type them (token expiry, audit and raw-data ranges)', () => {
  it('a date, or a date-time with T or a space; UTC when no zone is named', () => {
    expect(parseIsoInstant('2026-12-03')).toBe(Date.UTC(2026, 11, 3));
    expect(parseIsoInstant('2026-12-03T10:00')).toBe(Date.UTC(2026, 11, 3, 10));
    expect(parseIsoInstant('2026-12-03 10:00:30.5')).toBe(Date.UTC(2026, 11, 3, 10, 0, 30, 500));
    expect(parseIsoInstant(' 2026-12-03t10:00:00z ')).toBe(Date.UTC(2026, 11, 3, 10));
    expect(parseIsoInstant('2026-12-03T10:00:00+02:00')).toBe(Date.UTC(2026, 11, 3, 8));
    expect(parseIsoInstant('2026-12-03T10:00:00-0130')).toBe(Date.UTC(2026, 11, 3, 11, 30));
  });

  it('nothing else: what Date.parse alone would take, and dates that do not exist', () => {
    for (const bad of ['1', '2026', 'yesterday', 'Dec 3 2026', '2026-12-03T10', '2026-13-01', '2026-12-03T25:00:00Z', '']) {
      expect(parseIsoInstant(bad), bad).toBeNaN();
    }
  });
});
