import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAUSIBILITY, PLAUSIBILITY_RULES, plausibilityProblems, type PlausibilityRules } from '../../../pipeline/ceilometer/plausibility';
import type { Sample } from '../../../pipeline/sample';
import { makeSample } from '../ingest/helpers';

/**
 * The plausibility screen states each rule once (PLAUSIBILITY_RULES): on hostile samples, a rule's
 * check and the reasons the screen gives agree, every rule is exercised, and plausible samples get the
 * shared empty answer.
 */
const NOW = new Date('2026-12-03T10:00:00Z');
const DAY = 86_400_000;
const cumulative = (over: Partial<Sample>) => makeSample({ counter_type: 'cumulative', ...over });
const HOSTILE: Array<[string, Sample]> = [
  ['NaN volume', makeSample({ counter_volume: NaN })],
  ['+Infinity volume', makeSample({ counter_volume: Infinity })],
  ['-Infinity cumulative', cumulative({ counter_volume: -Infinity })],
  ['1e308 volume', makeSample({ counter_volume: 1e308 })],
  ['-1e30 gauge', makeSample({ counter_type: 'gauge', counter_volume: -1e30 })],
  ['-1 cumulative', cumulative({ counter_volume: -1 })],
  ['-1e30 cumulative', cumulative({ counter_volume: -1e30 })],
  ['invalid timestamp', makeSample({ timestamp: new Date(NaN) })],
  ['year 0001', makeSample({ timestamp: new Date('0001-01-01T00:00:00Z') })],
  ['year 9999', makeSample({ timestamp: new Date('9999-12-31T00:00:00Z') })],
  ['8 days ahead, NaN volume', makeSample({ timestamp: new Date(NOW.getTime() + 8 * DAY), counter_volume: NaN })],
  ['everything wrong', cumulative({ counter_volume: -1e300, timestamp: new Date('0001-01-01T00:00:00Z') })],
];
const PLAUSIBLE: Array<[string, Sample]> = [
  ['ordinary', makeSample({ timestamp: NOW })],
  ['negative gauge', makeSample({ counter_type: 'gauge', counter_volume: -5, timestamp: NOW })],
  ['2013 trace', makeSample({ timestamp: new Date('2013-08-12T00:00:00Z') })],
  ['6 days ahead', makeSample({ timestamp: new Date(NOW.getTime() + 6 * DAY) })],
];
const RELAXED: PlausibilityRules = { maxAbsVolume: 0, rejectNegativeCumulative: false, maxPastSeconds: 0, maxFutureSeconds: 0 };

describe('plausibility rules: one table for the check and the reason', () => {
  for (const [settings, rules] of [['defaults', DEFAULT_PLAUSIBILITY], ['every limit relaxed', RELAXED]] as const) {
    it(`every rule's check and its reason agree on hostile and plausible samples (${settings})`, () => {
      for (const [what, s] of [...HOSTILE, ...PLAUSIBLE]) {
        const problems = plausibilityProblems(s, rules, NOW);
        const broken = PLAUSIBILITY_RULES.filter((r) => r.breaks(s, rules, NOW.getTime()));
        expect([what, problems]).toEqual([what, broken.map((r) => r.reason(s, rules, NOW))]);
        if (broken.length === 0) expect(Object.isFrozen(problems)).toBe(true);
      }
    });
  }

  it('every rule is broken by some hostile sample and by no plausible one (defaults)', () => {
    for (const rule of PLAUSIBILITY_RULES) {
      expect([rule.name, HOSTILE.some(([, s]) => rule.breaks(s, DEFAULT_PLAUSIBILITY, NOW.getTime()))]).toEqual([rule.name, true]);
    }
    for (const [what, s] of PLAUSIBLE) expect([what, plausibilityProblems(s, DEFAULT_PLAUSIBILITY, NOW)]).toEqual([what, []]);
  });

  it('the reasons name the rule and the setting that relaxes it', () => {
    const all = plausibilityProblems(HOSTILE.at(-1)![1], DEFAULT_PLAUSIBILITY, NOW);
    expect(all).toEqual([
      expect.stringMatching(/^volume: -1e\+300 is beyond the plausible magnitude 1000000000000000000 \(ingest\.plausibility\.maxAbsVolume\)$/),
      expect.stringMatching(/^volume: -1e\+300 is negative, but .* is a cumulative counter \(ingest\.plausibility\.rejectNegativeCumulative\)$/),
      expect.stringMatching(/^timestamp: 0001-01-01T00:00:00\.000Z is more than 788923800 s before arrival .*maxPastSeconds\)$/),
    ]);
    expect(plausibilityProblems(HOSTILE[0]![1], DEFAULT_PLAUSIBILITY, NOW)).toEqual(['volume: expected a finite number, got NaN']);
    expect(plausibilityProblems(HOSTILE[7]![1], DEFAULT_PLAUSIBILITY, NOW)).toEqual(['timestamp: not a valid date']);
  });
});
