import { describe, expect, it } from 'vitest';
import { parseBitbrains, parseRow, readBitbrains, TraceFormatError } from '../../profiler/bitbrains';
import { TraceSampler } from '../../profiler/trace-samples';
import { rowsOf, trace } from './helpers';

describe('Bitbrains reader', () => {
  it('streams every data row of real traces (row counts as listed in SOURCES.md)', async () => {
    for (const [vm, rows] of [['27', 8627], ['265', 13562], ['123', 8614]] as const) {
      let n = 0;
      for await (const _ of readBitbrains(trace(vm))) n++;
      expect(n, vm).toBe(rows);
    }
  });

  it('parses scientific notation, CPU above 100 % and keeps duplicate timestamps and zero rows', () => {
    const r27 = rowsOf('27');
    expect(r27[0]!.memory_capacity_kb).toBe(536303616); // written as 5.36303616E8
    expect(rowsOf('41').some((r) => r.cpu_usage_pct > 100)).toBe(true);
    const r265 = rowsOf('265');
    const ts = r265.map((r) => r.timestamp_s);
    expect(new Set(ts).size).toBeLessThan(ts.length);
    expect(r265.filter((r) => r.cpu_cores === 0).length).toBe(7396);
  });

  it('names file, line and column of a malformed value', () => {
    expect(() => parseRow('1375308176;\t2;\tx;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1', 5, '9.csv')).toThrow(/9\.csv:5: column 3 .*not a number: "x"/);
    expect(() => parseRow('1;2;3', 7, '9.csv')).toThrow(TraceFormatError);
    expect(() => parseBitbrains('a;b\n1;2', 'bad.csv')).toThrow(/bad\.csv:1: .*header/);
  });
});

describe('trace rows → Ceilometer samples', () => {
  it('emits Ceilometer meters with their types, units and resource ids', () => {
    const s = new TraceSampler('27');
    const [first, second] = rowsOf('27');
    s.samples(first!);
    const out = s.samples(second!);
    const by = Object.fromEntries(out.map((x) => [x.counter_name, x]));
    expect(Object.keys(by).sort()).toEqual(
      ['cpu', 'cpu_util', 'disk.device.read.bytes', 'disk.device.write.bytes', 'memory', 'memory.usage', 'network.incoming.bytes', 'network.outgoing.bytes', 'vcpus'].sort(),
    );
    expect([by.cpu!.counter_type, by.cpu!.counter_unit]).toEqual(['cumulative', 'ns']);
    expect([by.cpu_util!.counter_type, by.cpu_util!.counter_unit, by.cpu_util!.counter_volume]).toEqual(['gauge', '%', second!.cpu_usage_pct]);
    expect(by['memory.usage']!.counter_unit).toBe('MiB');
    const id = s.vm.instanceId;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(by['disk.device.read.bytes']!.resource_id).toBe(`${id}-vda`);
    expect(by['network.incoming.bytes']!.resource_id).toMatch(new RegExp(`^instance-[0-9a-f]{8}-${id}-tap`));
    expect(by['network.incoming.bytes']!.resource_metadata.instance_id).toBe(id);
    // cumulative CPU grows by usage% × cores × Δt
    const dt = second!.timestamp_s - first!.timestamp_s;
    expect(by.cpu!.counter_volume).toBeCloseTo((second!.cpu_usage_pct / 100) * second!.cpu_cores * dt * 1e9, -3);
    expect(by.vcpus!.resource_metadata).toMatchObject({ display_name: '27', vcpus: 32, flavor: { vcpus: 32 } });
  });

  it('is deterministic: a replay yields the same instance and message ids (idempotent)', () => {
    const rows = rowsOf('123').slice(0, 50);
    const a = new TraceSampler('123');
    const b = new TraceSampler('123');
    const ia = rows.flatMap((r) => a.samples(r).map((x) => x.message_id));
    const ib = rows.flatMap((r) => b.samples(r).map((x) => x.message_id));
    expect(ia).toEqual(ib);
    expect(new Set(ia).size).toBe(ia.length);
    expect(new TraceSampler('124').vm.instanceId).not.toBe(a.vm.instanceId);
  });

  it('skips rows of a VM that is off (zero cores or capacity) and counts them', () => {
    const s = new TraceSampler('265');
    for (const r of rowsOf('265')) s.samples(r);
    expect(s.stats.off_rows).toBe(7396);
    expect(s.stats.samples).toBe((13562 - 7396) * 9);
  });

  it('passes a signer through when one is given', () => {
    const s = new TraceSampler('27', { sign: (x) => `sig:${x.counter_name}` });
    expect(s.samples(rowsOf('27')[0]!)[0]!.message_signature).toBe('sig:vcpus');
  });
});
