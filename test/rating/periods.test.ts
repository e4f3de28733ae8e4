import { describe, expect, it } from 'vitest';
import { addPeriods, parseDateInZone, periodStart, periodsBetween } from '../../billing/mediation/periods';

const h = (ms: number) => ms / 3_600_000;

describe('billing periods across daylight-saving changes', () => {
  it.each([
    // zone, local date whose midnight does not exist (DST starts at 00:00), expected start (01:00 local)
    ['America/Santiago', '2025-09-07', '2025-09-07T04:00:00.000Z'],
    ['America/Havana', '2025-03-09', '2025-03-09T05:00:00.000Z'],
    ['America/Asuncion', '2024-10-06', '2024-10-06T04:00:00.000Z'],
  ])('%s: the day of %s starts when the clock jumps to 01:00 and lasts 23 h', (tz, day, start) => {
    const s = parseDateInZone(day, tz);
    expect(s.toISOString()).toBe(start);
    expect(h(addPeriods(s, 'day', 1, tz).getTime() - s.getTime())).toBe(23);
    // a sample in the first hour of that day belongs to it, not to the previous day
    expect(periodStart(new Date(s.getTime() + 30 * 60_000), 'day', tz)).toEqual(s);
  });

  it('gives 23 h and 25 h days where DST starts and ends at 02:00/03:00 (Europe/Berlin)', () => {
    const spring = parseDateInZone('2025-03-30', 'Europe/Berlin');
    const autumn = parseDateInZone('2025-10-26', 'Europe/Berlin');
    expect(spring.toISOString()).toBe('2025-03-29T23:00:00.000Z');
    expect(h(addPeriods(spring, 'day', 1, 'Europe/Berlin').getTime() - spring.getTime())).toBe(23);
    expect(h(addPeriods(autumn, 'day', 1, 'Europe/Berlin').getTime() - autumn.getTime())).toBe(25);
  });

  it('always advances: a month of days across the Santiago change has 30 strictly increasing starts', () => {
    const tz = 'America/Santiago';
    const days = periodsBetween(parseDateInZone('2025-08-20', tz), parseDateInZone('2025-09-19', tz), 'day', tz);
    expect(days).toHaveLength(30);
    for (let i = 1; i < days.length; i++) expect(days[i]!.getTime()).toBeGreaterThan(days[i - 1]!.getTime());
    const months = periodsBetween(parseDateInZone('2025-01-01', tz), parseDateInZone('2026-01-01', tz), 'month', tz);
    expect(months).toHaveLength(12);
  });
});
