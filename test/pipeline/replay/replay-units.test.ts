import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBitbrains } from '../../../profiler/bitbrains';
import { Pacer, parseSpeedup } from '../../../pipeline/replay/pacer';
import { retryAfterSeconds } from '../../../pipeline/replay/http-sink';
import { countRows, parseInstant, traceFiles, traceRowSamples, type TraceVm } from '../../../pipeline/replay/source';
import { parseTarget } from '../../../pipeline/replay/target';
import { asDict, httpBody, kafkaValues } from '../../../pipeline/replay/encode';
import { produceChunks } from '../../../pipeline/replay/kafka-sink';
import { parseHttpBody, parseKafkaValue } from '../../../pipeline/ceilometer/normalize';
import { sharedPath } from '../../support/paths';
import { TRACE_FILES, expectedSamples } from './helpers';

describe('--to targets', () => {
  it('turns URL userinfo into HTTP Basic (token as password) and defaults the path to /v1/samples', () => {
    const t = parseTarget('http://ceilometer:s3cr%40t@127.0.0.1:8777');
    expect(t).toMatchObject({ kind: 'http', url: 'http://127.0.0.1:8777/v1/samples' });
    expect(t.kind === 'http' && Buffer.from(t.authorization!.slice(6), 'base64').toString()).toBe('ceilometer:s3cr@t');
    expect(parseTarget('http://u:p@h:1/v1/samples', 'tok-123')).toMatchObject({ authorization: 'Bearer tok-123' });
  });
  it('reads kafka:// brokers and topic, and names what is wrong', () => {
    expect(parseTarget('kafka://127.0.0.1:9092,127.0.0.1:9093?topic=metering')).toMatchObject({ kind: 'kafka', brokers: ['127.0.0.1:9092', '127.0.0.1:9093'], topic: 'metering' });
    expect(parseTarget('kafka://127.0.0.1:9092')).toMatchObject({ topic: 'ceilometer' });
    expect(() => parseTarget('udp://h:1')).toThrow(/unsupported scheme "udp"/);
    expect(() => parseTarget('kafka://broker?topic=x')).toThrow(/broker "broker" is not host:port/);
    expect(() => parseTarget('not a url')).toThrow(/--to: not a URL/);
  });
});

describe('pacing', () => {
  it('trace time runs speedup× faster than the wall clock; 0/max disables waiting', () => {
    let now = 1000;
    const p = new Pacer(300, () => now);
    expect(p.waitMs(1_375_308_176)).toBe(0); // first row anchors the clock
    expect(p.waitMs(1_375_308_476)).toBe(1000); // 300 trace seconds = 1 wall second
    now += 400;
    expect(p.waitMs(1_375_308_476)).toBe(600);
    expect(new Pacer(0).waitMs(2e9)).toBe(0);
    expect(parseSpeedup('max')).toBe(0);
    expect(parseSpeedup('60')).toBe(60);
    expect(() => parseSpeedup('-2')).toThrow(/--speedup/);
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterSeconds('3')).toBe(3);
    expect(retryAfterSeconds(null)).toBe(1);
    expect(retryAfterSeconds('Sun, 22 Nov 2026 10:00:05 GMT', 1, Date.parse('2026-11-22T10:00:00Z'))).toBe(5);
  });
});

describe('trace source', () => {
  it('expands a directory in numeric order and limits to --vms', () => {
    const all = traceFiles([sharedPath('data', 'traces', 'bitbrains-rnd')]);
    const names = all.map((f) => Number(f.replace(/^.*\/(\d+)\.csv$/, '$1')));
    expect(names).toEqual([...names].sort((x, y) => x - y));
    expect(traceFiles([sharedPath('data', 'traces', 'bitbrains-rnd')], 3)).toEqual(all.slice(0, 3));
    expect(() => traceFiles(['/nonexistent/trace.csv'])).toThrow(/no such file/);
  });

  it('merges VMs in trace-time order and honours --from/--until, keeping counters where a full replay has them', async () => {
    const rows0 = parseBitbrains(readFileSync(TRACE_FILES[0]!, 'utf8'));
    const fromS = rows0[40]!.timestamp_s;
    const untilS = rows0[60]!.timestamp_s;
    const vms: TraceVm[] = [];
    const got = [];
    for await (const r of traceRowSamples(TRACE_FILES, { fromS, untilS }, vms)) got.push(r);
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((r) => r.timestampS >= fromS && r.timestampS < untilS)).toBe(true);
    const ts = got.map((r) => r.timestampS);
    expect(ts).toEqual([...ts].sort((x, y) => x - y));
    expect(new Set(got.map((r) => r.vm))).toEqual(new Set(['27', '41']));
    // The same samples (ids and cumulative volumes) as an unsliced run has at those rows.
    const full = new Map(expectedSamples(TRACE_FILES, 200).map((x) => [x.message_id, x.counter_volume]));
    for (const r of got) for (const x of r.samples) expect(full.get(x.message_id)).toBe(x.counter_volume);
    expect(vms.map((v) => v.emittedRows).reduce((x, y) => x + y)).toBe(got.length);
  });

  it('counts rows for the progress bar, capped by --limit-rows', () => {
    const lines = readFileSync(TRACE_FILES[0]!, 'utf8').trim().split('\n').length - 1;
    expect(countRows([TRACE_FILES[0]!])).toBe(lines);
    expect(countRows(TRACE_FILES, { limitRows: 10 })).toBe(20);
    expect(parseInstant('2013-08-01T00:00:00', '--from')).toBe(Date.UTC(2013, 7, 1) / 1000);
    expect(parseInstant('1375308176', '--from')).toBe(1375308176);
    expect(() => parseInstant('yesterday', '--until')).toThrow(/--until: expected epoch seconds/);
  });
});

describe('wire forms', () => {
  const samples = expectedSamples([TRACE_FILES[0]!], 2);
  it('as_dict bodies and signed counter_* bodies both parse back to the sampled samples', () => {
    for (const form of ['as_dict', 'counter'] as const) {
      const r = parseHttpBody(httpBody(samples, form, 'k'), { secret: 'k', signaturePolicy: 'reject' });
      expect(r.rejects).toEqual([]);
      expect(r.samples.map((x) => [x.message_id, x.counter_volume, x.timestamp.getTime()])).toEqual(samples.map((x) => [x.message_id, x.counter_volume, x.timestamp.getTime()]));
    }
    expect(Object.keys(asDict(samples[0]!))).toEqual(expect.arrayContaining(['name', 'type', 'unit', 'volume', 'id', 'resource_id', 'timestamp']));
  });
  it('Kafka values verify with the signing secret only', () => {
    const [v] = kafkaValues(samples.slice(0, 1), 'counter', 'k');
    expect(parseKafkaValue(Buffer.from(v!), { secret: 'k' }).samples).toHaveLength(1);
    expect(parseKafkaValue(Buffer.from(v!), { secret: 'other' }).rejects[0]!.reason).toMatch(/message_signature: does not match/);
    // Produce requests stay under the broker's 1 MiB limit, in order, nothing lost.
    const big = Array.from({ length: 900 }, (_, i) => `${i}`.padEnd(1400, 'x'));
    const chunks = produceChunks(big);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(big);
    for (const c of chunks) expect(c.reduce((n, v) => n + v.length + 64, 0)).toBeLessThanOrEqual(512 * 1024);
    const env = kafkaValues(samples, 'notifier', 'k', 10);
    expect(env).toHaveLength(2);
    expect(parseKafkaValue(Buffer.from(env[0]!), { secret: 'k' }).samples).toHaveLength(10);
  });
});
