import { describe, expect, it } from 'vitest';
import { FactIndex } from '../../compliance/facts';
import { parseLicenses, type License } from '../../compliance/license';
import { evaluateSamples } from '../../compliance/offline';
import { checkOutput, evaluate } from '../../compliance/rules';
import { at, host, vm } from './helpers';

const L = (over: Partial<License> & Pick<License, 'id'>): License => ({ product: 'oracle-db', match: {}, cores: 100, valid_from: '2026-01-01', valid_to: '2027-01-01', ...over });
const check = (licenses: License[], samples: Parameters<typeof evaluateSamples>[1], opts: Parameters<typeof evaluateSamples>[2] = {}) => checkOutput(evaluateSamples(licenses, samples, opts));

describe('licence rules at T', () => {
  it('a matched active instance within every limit is compliant; T defaults to the newest sample', () => {
    const out = check([L({ id: 'ora', cores: 8, cores_per_instance: 8, architecture: 'x86_64', cpu_models: ['Intel(R) Xeon(R) Gold*'] })], [
      vm('vm-1', 0, { product: 'oracle-db', vcpus: 8, host: 'cmp-1' }),
      host('cmp-1', -600, { cpu_model: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', architecture: 'x86_64', cpu_cores: 40 }),
    ]);
    expect(out).toEqual({ at: at(0).toISOString(), violations: [], licenses: [{ id: 'ora', status: 'compliant', instances: ['vm-1'], cores_used: 8 }], unverified: [] });
  });

  it('unlicensed: an active instance of a product no licence matches (license_id null, actual the product)', () => {
    const out = check([L({ id: 'ora', match: { project_id: 'p-fin' } })], [vm('vm-1', 0, { product: 'oracle-db', vcpus: 2, project: 'p-hr' }), vm('vm-2', 0, { product: 'weblogic', vcpus: 2 })]);
    expect(out.violations).toEqual([
      { license_id: null, resource_id: 'vm-1', kind: 'unlicensed', assigned: null, actual: 'oracle-db' },
      { license_id: null, resource_id: 'vm-2', kind: 'unlicensed', assigned: null, actual: 'weblogic' },
    ]);
    expect(out.licenses).toEqual([{ id: 'ora', status: 'unused', instances: [], cores_used: 0 }]);
  });

  it('expired: only this kind is reported for a licence whose validity does not contain T', () => {
    const lic = L({ id: 'ora', cores: 1, cores_per_instance: 1, valid_from: '2025-01-01', valid_to: '2026-06-01', architecture: 'aarch64' });
    const out = check([lic], [vm('vm-1', 0, { product: 'oracle-db', vcpus: 4, host: 'cmp-1' }), host('cmp-1', 0, { architecture: 'x86_64' })]);
    expect(out.violations).toEqual([{ license_id: 'ora', resource_id: 'vm-1', kind: 'expired', assigned: ['2025-01-01', '2026-06-01'], actual: at(0).toISOString() }]);
    expect(out.licenses).toEqual([{ id: 'ora', status: 'expired', instances: ['vm-1'], cores_used: 4 }]);
    // valid_from is inclusive, valid_to exclusive
    const edge = [L({ id: 'a', valid_from: '2026-06-01', valid_to: '2026-06-02' })];
    const x = [vm('x', -12 * 3600, { product: 'oracle-db', vcpus: 1 }), vm('x', 12 * 3600, { product: 'oracle-db', vcpus: 1 })]; // 06-01 and 06-02 00:00
    expect(check(edge, x, { at: new Date('2026-06-01T00:00:00Z') }).licenses[0]!.status).toBe('compliant');
    expect(check(edge, x, { at: new Date('2026-06-01T23:59:59.999Z'), activeWindowS: 86_400 }).licenses[0]!.status).toBe('compliant');
    expect(check(edge, x, { at: new Date('2026-06-02T00:00:00Z') }).licenses[0]!.status).toBe('expired');
  });

  it('instance-cores-exceeded and cores-exceeded (resource_id null, actual the sum)', () => {
    const out = check([L({ id: 'ora', cores: 16, cores_per_instance: 8 })], [
      vm('vm-a', 0, { product: 'oracle-db', vcpus: 12 }),
      vm('vm-b', -60, { product: 'oracle-db', flavorVcpus: 8 }),
    ]);
    expect(out.violations).toEqual([
      { license_id: 'ora', resource_id: 'vm-a', kind: 'instance-cores-exceeded', assigned: 8, actual: 12 },
      { license_id: 'ora', resource_id: null, kind: 'cores-exceeded', assigned: 16, actual: 20 },
    ]);
    expect(out.licenses).toEqual([{ id: 'ora', status: 'violation', instances: ['vm-a', 'vm-b'], cores_used: 20 }]);
  });

  it('architecture and CPU model of the host (glob * and ?, case-sensitive, whole string)', () => {
    const lic = L({ id: 'ora', architecture: 'x86_64', cpu_models: ['Intel(R) Xeon(R) Gold*', 'AMD EPYC 7?43'] });
    const samples = [
      vm('vm-1', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-1' }),
      vm('vm-2', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-2' }),
      vm('vm-3', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-3' }),
      host('cmp-1', 0, { cpu_model: 'intel(r) xeon(r) gold 6230', architecture: 'aarch64' }),
      host('cmp-2', 0, { cpu_model: 'AMD EPYC 7543', architecture: 'x86_64' }),
      host('cmp-3', 0, { cpu_model: 'AMD EPYC 75430', architecture: 'x86_64' }),
    ];
    expect(check([lic], samples).violations).toEqual([
      { license_id: 'ora', resource_id: 'vm-1', kind: 'architecture-mismatch', assigned: 'x86_64', actual: 'aarch64' },
      { license_id: 'ora', resource_id: 'vm-1', kind: 'cpu-model-mismatch', assigned: ['Intel(R) Xeon(R) Gold*', 'AMD EPYC 7?43'], actual: 'intel(r) xeon(r) gold 6230' },
      { license_id: 'ora', resource_id: 'vm-3', kind: 'cpu-model-mismatch', assigned: ['Intel(R) Xeon(R) Gold*', 'AMD EPYC 7?43'], actual: 'AMD EPYC 75430' },
    ]);
  });

  it('an instance whose host has no facts is unverified, not a violation; a licence without host requirements needs none', () => {
    const samples = [
      vm('vm-1', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-9' }),
      host('cmp-9', 0, {}),
      vm('vm-2', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-unknown' }),
      vm('vm-3', 0, { product: 'oracle-db', vcpus: 2 }),
      vm('vm-4', 0, { product: 'mysql', vcpus: 2, host: 'cmp-unknown' }),
    ];
    const out = check([L({ id: 'ora', cpu_models: ['*Xeon*'] }), L({ id: 'my', product: 'mysql' })], samples);
    expect(out.violations).toEqual([]);
    expect(out.unverified).toEqual([
      { resource_id: 'vm-1', license_id: 'ora' },
      { resource_id: 'vm-2', license_id: 'ora' },
      { resource_id: 'vm-3', license_id: 'ora' },
    ]);
    expect(out.licenses.map((l) => l.status)).toEqual(['compliant', 'compliant']);
  });

  it('host facts come from the newest host sample at or before T that carries them', () => {
    const lic = [L({ id: 'ora', cpu_models: ['*Gold*'] })];
    const samples = [
      vm('vm-1', 0, { product: 'oracle-db', vcpus: 2, host: 'cmp-1' }),
      host('cmp-1', -7200, { cpu_model: 'Xeon Silver' }),
      host('cmp-1', -3000, { cpu_model: 'Xeon Gold' }),
      host('cmp-1', -100, {}), // newer, but carries no facts
      host('cmp-1', 600, { cpu_model: 'Xeon Silver' }), // after T
    ];
    expect(check(lic, samples, { at: at(0) }).violations).toEqual([]);
    expect(check(lic, samples, { at: at(-3001) }).violations).toEqual([]); // vm-1 not yet seen: nothing active
    expect(check(lic, samples).violations).toEqual([{ license_id: 'ora', resource_id: 'vm-1', kind: 'cpu-model-mismatch', assigned: ['*Gold*'], actual: 'Xeon Silver' }]);
  });

  it('a resized instance is judged on its newest sample at or before T', () => {
    const lic = [L({ id: 'ora', cores: 8, cores_per_instance: 8 })];
    const samples = [vm('vm-1', 0, { product: 'oracle-db', vcpus: 4 }), vm('vm-1', 300, { product: 'oracle-db', vcpus: 16 })];
    expect(check(lic, samples, { at: at(299) }).violations).toEqual([]);
    expect(check(lic, samples, { at: at(299) }).licenses[0]!.cores_used).toBe(4);
    expect(check(lic, samples).violations.map((v) => [v.kind, v.actual])).toEqual([['instance-cores-exceeded', 16], ['cores-exceeded', 16]]);
    // shrunk back: the older, larger sample no longer counts; order of arrival does not matter
    const shrunk = [vm('vm-1', 600, { product: 'oracle-db', vcpus: 2 }), ...samples];
    expect(check(lic, shrunk).violations).toEqual([]);
    expect(check(lic, [...shrunk].reverse()).licenses[0]!.cores_used).toBe(2);
  });

  it('inactive instances do not count: a sample in (T − window, T] is needed (boundary excluded)', () => {
    const lic = [L({ id: 'ora', cores: 4 })];
    const samples = [vm('old', -3600, { product: 'oracle-db', vcpus: 4 }), vm('new', -3599, { product: 'oracle-db', vcpus: 4 }), vm('now', 0, { product: 'oracle-db', vcpus: 1 })];
    expect(check(lic, samples).licenses[0]).toEqual({ id: 'ora', status: 'violation', instances: ['new', 'now'], cores_used: 5 });
    expect(check(lic, samples, { activeWindowS: 3599 }).licenses[0]).toEqual({ id: 'ora', status: 'compliant', instances: ['now'], cores_used: 1 });
    expect(check(lic, [], { at: at(0) })).toEqual({ at: at(0).toISOString(), violations: [], licenses: [{ id: 'ora', status: 'unused', instances: [], cores_used: 0 }], unverified: [] });
  });

  it('samples after T are ignored: product, size and activity as of T', () => {
    const lic = [L({ id: 'ora', cores: 4 })];
    const samples = [vm('vm-1', 0, { vcpus: 8 }), vm('vm-1', 60, { product: 'oracle-db', vcpus: 8 }), vm('vm-2', 0, { product: 'oracle-db', vcpus: 2 }), vm('vm-2', 60, { vcpus: 2 })];
    // at T = 0: vm-1 runs no product yet, vm-2 runs oracle-db
    expect(check(lic, samples, { at: at(0) }).licenses[0]).toMatchObject({ instances: ['vm-2'], cores_used: 2, status: 'compliant' });
    // at T = 60: the metadata changed on both
    expect(check(lic, samples).licenses[0]).toMatchObject({ instances: ['vm-1'], cores_used: 8, status: 'violation' });
  });

  it('each instance counts under the FIRST matching licence of its product in file order, valid or not', () => {
    const licenses = parseLicenses(
      `licenses:
  - {id: old-fin, product: oracle-db, match: {project_id: p-fin}, cores: 100, valid_from: 2025-01-01, valid_to: 2026-01-01}
  - {id: fin-vm2, product: oracle-db, match: {resource_ids: [vm-2]}, cores: 100}
  - {id: catch-all, product: oracle-db, cores: 2}
`,
      'licenses.yaml',
    );
    const out = check(licenses, [vm('vm-1', 0, { product: 'oracle-db', vcpus: 2 }), vm('vm-2', 0, { product: 'oracle-db', vcpus: 2, project: 'p-hr' }), vm('vm-3', 0, { product: 'oracle-db', vcpus: 2, project: 'p-hr' })]);
    expect(out.licenses).toEqual([
      { id: 'old-fin', status: 'expired', instances: ['vm-1'], cores_used: 2 },
      { id: 'fin-vm2', status: 'compliant', instances: ['vm-2'], cores_used: 2 },
      { id: 'catch-all', status: 'compliant', instances: ['vm-3'], cores_used: 2 },
    ]);
    expect(out.violations).toEqual([{ license_id: 'old-fin', resource_id: 'vm-1', kind: 'expired', assigned: ['2025-01-01', '2026-01-01'], actual: at(0).toISOString() }]);
  });

  it("a VM's disk and NIC samples (instance_id ≠ resource_id) are not instances of their own", () => {
    const disk = vm('vm-1-vda', 0, { product: 'oracle-db', vcpus: 8, extra: { instance_id: 'vm-1' } });
    const out = check([L({ id: 'ora', cores: 8 })], [vm('vm-1', 0, { product: 'oracle-db', vcpus: 8 }), disk]);
    expect(out.licenses[0]).toEqual({ id: 'ora', status: 'compliant', instances: ['vm-1'], cores_used: 8 });
  });

  it('the findings name the samples they rest on', () => {
    const a = vm('vm-1', 0, { product: 'oracle-db', vcpus: 8, host: 'cmp-1' });
    const h = host('cmp-1', -60, { cpu_model: 'Xeon Silver', architecture: 'x86_64' });
    const e = evaluateSamples([L({ id: 'ora', cores: 4, cpu_models: ['*Gold*'] })], [a, h]);
    expect(e.violations.map((v) => [v.kind, v.evidence.map((s) => s.id)])).toEqual([
      ['cpu-model-mismatch', [a.message_id, h.message_id]],
      ['cores-exceeded', [a.message_id]],
    ]);
    expect(e.instances[0]!.samples).toEqual([
      { id: a.message_id, timestamp: a.timestamp, resource_id: 'vm-1', gave: 'activity, project, product, vcpus, instance_host' },
      { id: h.message_id, timestamp: h.timestamp, resource_id: 'cmp-1', gave: 'cpu_model, architecture' },
    ]);
  });

  it('the fold is order-independent and can be pruned of inactive instances without changing the result', () => {
    const samples = [vm('a', 0, { product: 'oracle-db', vcpus: 2 }), vm('a', 0, { product: 'oracle-db', vcpus: 6 }), vm('b', -5000, { product: 'oracle-db', vcpus: 2 }), host('h', -9000, { architecture: 'x86_64' })];
    const lic = [L({ id: 'ora', cores: 3 })];
    const fwd = new FactIndex();
    const rev = new FactIndex();
    samples.forEach((s) => fwd.observe(s));
    [...samples].reverse().forEach((s) => rev.observe(s));
    const r1 = checkOutput(evaluate(lic, fwd, { at: at(0) }));
    expect(checkOutput(evaluate(lic, rev, { at: at(0) }))).toEqual(r1);
    expect(fwd.prune(at(-3600))).toBe(1);
    expect(fwd.get('h')).toBeDefined();
    expect(checkOutput(evaluate(lic, fwd, { at: at(0) }))).toEqual(r1);
  });
});
