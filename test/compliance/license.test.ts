import { describe, expect, it } from 'vitest';
import { globMatch, matches, parseLicenses, validateLicense, validAt } from '../../compliance/license';
import { YamlValidationError } from '../../config/yaml-source';

const one = (body: string) => parseLicenses(`licenses:\n  - ${body.trim().split('\n').join('\n    ')}\n`, 'l.yaml');
const problems = (text: string): string[] => {
  try {
    parseLicenses(text, 'l.yaml');
  } catch (err) {
    if (err instanceof YamlValidationError) return err.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
};

describe('licence file', () => {
  it('keeps dates as written (YAML dates stay UTC dates), drops absent fields, defaults match to everything', () => {
    const [l] = one('id: a\nproduct: p\ncores: 4\nvalid_from: 2026-01-01\nvalid_to: "2026-07-01T00:00:00+02:00"');
    expect(l).toEqual({ id: 'a', product: 'p', match: {}, cores: 4, valid_from: '2026-01-01', valid_to: '2026-07-01T00:00:00+02:00' });
    expect(validAt(l!, new Date('2026-06-30T21:59:59Z'))).toBe(true);
    expect(validAt(l!, new Date('2026-06-30T22:00:00Z'))).toBe(false);
    expect(validAt(l!, new Date('2025-12-31T23:59:59Z'))).toBe(false);
  });

  it('names file, line and field of every problem', () => {
    expect(problems('licenses:\n  - id: "bad id"\n    product: p\n    cores: 1.5\n    match: {resource_ids: []}\n    cpu_models: []\n    valid_to: 2026-02-30\n')).toEqual([
      expect.stringMatching(/^2: licenses\[0\]\.id: expected 1–128 characters/),
      expect.stringMatching(/^4: licenses\[0\]\.cores: must be a whole number/),
      expect.stringMatching(/^5: licenses\[0\]\.match\.resource_ids: give at least one resource id/),
      expect.stringMatching(/^6: licenses\[0\]\.cpu_models: give at least one pattern/),
      expect.stringMatching(/^7: licenses\[0\]\.valid_to: expected a UTC date/),
    ]);
    expect(problems('')).toEqual(['1: : empty licence file (expected `licenses:` with a list of licences)']);
    expect(problems('licenses: [\n')[0]).toMatch(/YAML syntax error/);
    expect(problems('licences:\n  - id: a\n')[0]).toMatch(/^1: licences: unknown key \(allowed: licenses\)|^1: licenses: /);
  });

  it('validates a licence posted as JSON with the same rules', () => {
    expect(validateLicense({ id: 'x', product: 'p', cores: 2, match: { project_id: 'p1' } })).toEqual({ ok: true, license: { id: 'x', product: 'p', match: { project_id: 'p1' }, cores: 2 } });
    const bad = validateLicense({ id: 'x', product: 'p', cores: -2, extra: true });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['cores', '']));
  });
});

describe('glob and match', () => {
  it('* and ? are the only wildcards; everything else is literal and case-sensitive; the whole model must match', () => {
    expect(globMatch('Intel(R) Xeon(R) Gold*', 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz')).toBe(true);
    expect(globMatch('Intel(R) Xeon(R) Gold*', 'intel(r) xeon(r) gold 6230')).toBe(false);
    expect(globMatch('EPYC 7?43', 'EPYC 7543')).toBe(true);
    expect(globMatch('EPYC 7?43', 'EPYC 75543')).toBe(false);
    expect(globMatch('v1.2', 'v1x2')).toBe(false);
    expect(globMatch('*Gold', 'Xeon Gold 6230')).toBe(false);
    expect(globMatch('[abc]+', '[abc]+')).toBe(true);
  });

  it('match: every given field must hold', () => {
    const l = { id: 'a', product: 'p', cores: 1, match: { project_id: 'p1', resource_ids: ['vm-1'] } };
    expect(matches(l, { resource_id: 'vm-1', project_id: 'p1' })).toBe(true);
    expect(matches(l, { resource_id: 'vm-1', project_id: 'p2' })).toBe(false);
    expect(matches(l, { resource_id: 'vm-2', project_id: 'p1' })).toBe(false);
    expect(matches({ ...l, match: {} }, { resource_id: 'any', project_id: null })).toBe(true);
  });
});
