import { describe, expect, it } from 'vitest';
import { load } from 'js-yaml';
import { readYamlFile, parseYaml } from '../../config/yaml-source';
import { meterCatalog, type MeterDef } from '../../estimator/meters';
import { defaultPolling, parsePolling, pollingFromYaml, scheduleMeters, sourceSupportsMeter, MASTER_POLLING_YAML } from '../../estimator/polling';
import { CEILO, estimateFile, HOT, readFile } from './helpers';

const byName = <T extends { name: string }>(ms: T[]) => new Map(ms.map((m) => [m.name, m]));

describe('polling configuration', () => {
  it('the embedded default is Ceilometer master etc/ceilometer/polling.yaml, unchanged', () => {
    expect(load(MASTER_POLLING_YAML)).toEqual(load(readFile(CEILO('etc/ceilometer/polling.yaml'))));
  });

  it('master polling.yaml: the 15 listed meters at 300 s; unlisted pollsters are not polled', () => {
    const s = byName(scheduleMeters(meterCatalog('master'), defaultPolling()).meters);
    expect(s.get('cpu')?.interval_s).toBe(300);
    expect(s.get('volume.size')?.interval_s).toBe(300);
    expect(s.has('memory.resident')).toBe(false);
    expect(s.has('ip.floating')).toBe(false);
  });

  it('8.0.0 polling.yaml: everything at 600 s', () => {
    const cfg = pollingFromYaml(readYamlFile(CEILO('_tag-8.0.0/etc/ceilometer/polling.yaml')));
    const s = scheduleMeters(meterCatalog('master'), cfg).meters;
    expect(s.length).toBe(meterCatalog('master').length);
    expect(new Set(s.map((m) => m.interval_s))).toEqual(new Set([600]));
  });

  it('7.0.0 combined pipeline.yaml: per-source intervals and transformer-derived meters', () => {
    const cfg = pollingFromYaml(readYamlFile(CEILO('_tag-7.0.0/etc/ceilometer/pipeline.yaml')));
    expect(cfg.format).toBe('pipeline');
    const s = byName(scheduleMeters(meterCatalog('legacy'), cfg).meters);
    expect(s.get('cpu')).toMatchObject({ interval_s: 600, type: 'cumulative', unit: 'ns' });
    expect(s.get('cpu_util')).toMatchObject({ interval_s: 600, type: 'gauge', unit: '%', derived_from: 'cpu' });
    expect(s.get('cpu.delta')).toMatchObject({ type: 'delta', unit: 'ns', derived_from: 'cpu' });
    expect(s.get('disk.device.read.bytes.rate')).toMatchObject({ type: 'gauge', unit: 'B/s', scope: 'disk' });
    expect(s.get('disk.read.requests.rate')).toMatchObject({ unit: 'request/s', scope: 'instance' });
    expect(s.get('network.outgoing.packets.rate')).toMatchObject({ unit: 'packet/s', scope: 'vnic' });
  });

  it('a legacy pipeline selects the legacy catalog: hello_world with 7.0.0 pipeline.yaml', () => {
    const pollingConfig = pollingFromYaml(readYamlFile(CEILO('_tag-7.0.0/etc/ceilometer/pipeline.yaml')));
    const e = estimateFile(HOT('hot/hello_world.yaml'), { pollingConfig });
    expect(e.catalog).toBe('legacy');
    // 11 instance meters + cpu_util, cpu.delta, 4 disk.*.rate; 4 network + 4 .rate per vNIC; 7 disk.device + 4 .rate per disk; every 600 s
    expect(e.events.per_day).toBe((11 + 6 + 8 + 11) * 144);
    expect(e.events.interval_s).toBe(600);
  });

  it('8.0.0 pipeline.yaml has no intervals: located error pointing to polling.yaml', () => {
    expect(() => pollingFromYaml(readYamlFile(CEILO('_tag-8.0.0/etc/ceilometer/pipeline.yaml')))).toThrow(/pipeline\.yaml:3: sources\[0\]: .*intervals live in polling\.yaml/);
  });

  it('fnmatch patterns and exclusions, as Ceilometer Source.is_supported', () => {
    expect(sourceSupportsMeter(['*'], 'cpu')).toBe(true);
    expect(sourceSupportsMeter(['disk.*'], 'disk.device.read.bytes')).toBe(true);
    expect(sourceSupportsMeter(['disk.*'], 'cpu')).toBe(false);
    expect(sourceSupportsMeter(['!cpu', '!disk.*'], 'memory.usage')).toBe(true);
    expect(sourceSupportsMeter(['!cpu', '!disk.*'], 'disk.usage')).toBe(false);
    expect(sourceSupportsMeter(['network.?ncoming.bytes'], 'network.incoming.bytes')).toBe(true);
  });

  it('two intervals for one meter poll it twice; bad sources are located errors', () => {
    const cfg = parsePolling('sources:\n  - {name: a, interval: 60, meters: [cpu]}\n  - {name: b, interval: 600, meters: ["*"]}\n', 'p.yaml');
    const cpu = scheduleMeters(meterCatalog('master'), cfg).meters.filter((m) => m.name === 'cpu');
    expect(cpu.map((m) => m.interval_s).sort((a, b) => a - b)).toEqual([60, 600]);
    expect(() => parsePolling('sources:\n  - {name: a, interval: 60, meters: [cpu, "!disk.*"]}\n', 'p.yaml')).toThrow(/p\.yaml:2: sources\[0\]\.meters: both included and excluded/);
    expect(() => parsePolling('sources:\n  - name: a\n    interval: 0\n    meters: [cpu]\n', 'p.yaml')).toThrow(/p\.yaml:3: sources\[0\]\.interval/);
    expect(() => parsePolling('sources:\n  - {name: a, interval: 60, meters: ["*", cpu]}\n', 'p.yaml')).toThrow(/including all meters/);
  });
});

describe('meter table cross-checked against meters.yaml', () => {
  const check = (defs: readonly MeterDef[], file: string) => {
    const doc = parseYaml(readFile(file), file).value as { metric: { name: string; type: string; unit: string }[] };
    const yaml = new Map(doc.metric.map((m) => [m.name, m]));
    const shared = defs.filter((d) => yaml.has(d.name));
    for (const d of shared) expect({ name: d.name, type: d.type, unit: d.unit }).toEqual({ name: d.name, type: yaml.get(d.name)!.type, unit: yaml.get(d.name)!.unit });
    return { names: shared.map((d) => d.name), yaml };
  };
  it('master catalog vs master meters.yaml (memory, vcpus, disk.*.size, volume.size)', () => {
    expect(check(meterCatalog('master'), CEILO('ceilometer/data/meters.d/meters.yaml')).names).toEqual(expect.arrayContaining(['memory', 'vcpus', 'disk.root.size', 'volume.size']));
  });
  it('legacy catalog vs 7.0.0 meters.yaml: no conflicting definitions; memory in MB like 7.0.0 (master: MiB)', () => {
    const { yaml } = check(meterCatalog('legacy'), CEILO('_tag-7.0.0/ceilometer/meter/data/meters.yaml'));
    const memUsage = meterCatalog('legacy').find((d) => d.name === 'memory.usage')!;
    expect(memUsage.unit).toBe(yaml.get('memory')!.unit);
    expect(meterCatalog('master').find((d) => d.name === 'memory.usage')!.unit).toBe('MiB');
  });
});
