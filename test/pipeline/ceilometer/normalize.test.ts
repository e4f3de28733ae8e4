import { describe, expect, it } from 'vitest';
import { parseHttpBody, parseKafkaValue, type NormalizeResult } from '../../../pipeline/ceilometer/normalize';
import { signSample } from '../../../pipeline/ceilometer/sign';
import type { Sample } from '../../../pipeline/sample';
import { forms } from './fixtures';

const f = forms();
const opts = { secret: f.secret };
const withoutSignature = (r: NormalizeResult): Omit<Sample, 'message_signature'>[] =>
  r.samples.map(({ message_signature: _s, ...rest }) => rest);

describe('the three Ceilometer wire forms normalise to the same samples', () => {
  const http = parseHttpBody(f.http_body, opts);
  const kafka = f.kafka_values.map((v) => parseKafkaValue(Buffer.from(v), opts));
  const merged: NormalizeResult = { samples: kafka.flatMap((k) => k.samples), rejects: kafka.flatMap((k) => k.rejects) };
  const oslo = parseKafkaValue(Buffer.from(f.oslo_envelope), opts);
  const polling = parseKafkaValue(Buffer.from(f.polling_notification), opts);
  const legacy = f.legacy_kafka_values.map((v) => parseKafkaValue(Buffer.from(v), opts));

  it('accepts every sample of every form', () => {
    for (const r of [http, merged, oslo, polling, ...legacy]) expect(r.rejects).toEqual([]);
    expect(http.samples).toHaveLength(3);
  });

  it('yields identical Sample objects (apart from the signature the HTTP form does not carry)', () => {
    const expected = withoutSignature(http);
    expect(withoutSignature(merged)).toEqual(expected);
    expect(withoutSignature(oslo)).toEqual(expected);
    expect(withoutSignature(polling)).toEqual(expected);
    expect(withoutSignature({ samples: legacy.flatMap((l) => l.samples), rejects: [] })).toEqual(expected);
    expect(http.samples.every((s) => s.message_signature === '')).toBe(true);
    expect(oslo.samples.map((s) => s.message_signature)).toEqual(merged.samples.map((s) => s.message_signature));
    expect(oslo.samples.every((s) => /^[0-9a-f]{64}$/.test(s.message_signature))).toBe(true);
  });

  it('parses timestamps as UTC with millisecond precision (truncated, as pymongo stored them)', () => {
    expect(http.samples.map((s) => s.timestamp.toISOString())).toEqual([
      '2016-10-06T12:00:00.123Z', // "2016-10-06T12:00:00.123456", no zone → UTC
      '2016-10-06T12:00:00.999Z', // ".999999+00:00"
      '2016-10-06T11:59:59.000Z',
    ]);
  });

  it('maps fields onto the meter document and drops master-only extras', () => {
    const s = http.samples[2]!;
    expect(s).toMatchObject({ counter_name: 'network.incoming.bytes', counter_type: 'cumulative', counter_unit: 'B', counter_volume: 1, user_id: null, project_id: null, source: 'openstack' });
    expect(Object.keys(http.samples[0]!)).not.toContain('monotonic_time');
  });

  it('accepts a single as_dict object (HTTP publisher with batch=False)', () => {
    const one = JSON.stringify(JSON.parse(f.http_body)[0]);
    expect(withoutSignature(parseHttpBody(Buffer.from(one), opts))).toEqual(withoutSignature(http).slice(0, 1));
  });
});

const good = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'cpu', type: 'cumulative', unit: 'ns', volume: 10, user_id: 'u', project_id: 'p', resource_id: 'r',
  timestamp: '2024-01-01T00:00:00', resource_metadata: {}, source: 'openstack', id, ...extra,
});

/** A body whose item 1 is bad and items 0 and 2 are fine; returns item 1's reject reason. */
function badMiddle(bad: string): { result: NormalizeResult; reason: string } {
  const body = `[${JSON.stringify(good('ok-0'))}, ${bad}, ${JSON.stringify(good('ok-2'))}]`;
  const result = parseHttpBody(body, opts);
  expect(result.samples.map((s) => s.message_id)).toEqual(['ok-0', 'ok-2']);
  expect(result.rejects).toHaveLength(1);
  expect(result.rejects[0]!.index).toBe(1);
  expect(result.rejects[0]!.payload).toBe(bad);
  return { result, reason: result.rejects[0]!.reason };
}

describe('per-sample rejects with reasons; valid neighbours survive', () => {
  it.each([
    ['missing name', { name: undefined }, 'name: missing (required)'],
    ['wrong type for name', { name: 5 }, 'name: expected a non-empty string, got 5'],
    ['unknown counter type', { type: 'rate' }, 'type: expected one of gauge, delta, cumulative, got "rate"'],
    ['volume as a string', { volume: '12' }, 'volume: expected a finite number, got "12"'],
    ['volume null', { volume: null }, 'volume: expected a finite number, got null'],
    ['volume boolean', { volume: true }, 'volume: expected a finite number, got true'],
    ['missing unit', { unit: undefined }, 'unit: missing (required)'],
    ['empty resource_id', { resource_id: '' }, 'resource_id: expected a non-empty string, got ""'],
    ['user_id a number', { user_id: 7 }, 'user_id: expected a string or null, got 7'],
    ['metadata a list', { resource_metadata: [1] }, 'resource_metadata: expected an object or null, got a list of 1 item'],
    ['missing id', { id: undefined }, 'id: missing (required)'],
    ['timestamp not a date', { timestamp: 'yesterday' }, 'timestamp: expected an ISO-8601 date-time such as "2016-10-06T12:00:00.123456" or "2016-10-06T12:00:00+00:00", got "yesterday"'],
    ['timestamp 30 February', { timestamp: '2023-02-30T00:00:00' }, 'timestamp: day 30 is out of range for 2023-02, got "2023-02-30T00:00:00"'],
    ['timestamp a number', { timestamp: 1700000000 }, 'timestamp: expected an ISO-8601 date-time string, got 1700000000'],
  ])('%s', (_label, patch, reason) => {
    expect(badMiddle(JSON.stringify(good('bad-1', patch))).reason).toBe(reason);
  });

  it('Python NaN / Infinity volume tokens', () => {
    const text = JSON.stringify(good('bad-1', { volume: 0 })).replace('"volume":0', '"volume":NaN');
    expect(badMiddle(text).reason).toBe('volume: expected a finite number, got NaN');
    const inf = JSON.stringify(good('bad-1', { volume: 0 })).replace('"volume":0', '"volume":-Infinity');
    expect(badMiddle(inf).reason).toBe('volume: expected a finite number, got -Infinity');
  });

  it('reports every problem of one item and carries its message_id', () => {
    const { result, reason } = badMiddle(JSON.stringify(good('bad-1', { type: 'x', volume: 'y', resource_id: null })));
    expect(reason).toBe(
      'type: expected one of gauge, delta, cumulative, got "x"; volume: expected a finite number, got "y"; resource_id: expected a non-empty string, got null',
    );
    expect(result.rejects[0]!.message_id).toBe('bad-1');
  });

  it('non-object items and oversized items', () => {
    expect(badMiddle('"cpu"').reason).toBe('sample: expected an object, got "cpu"');
    const big = JSON.stringify(good('bad-1', { resource_metadata: { blob: 'x'.repeat(300 * 1024) } }));
    expect(badMiddle(big).reason).toMatch(/^sample: \d+ bytes of JSON exceeds the per-sample limit of 262144 bytes$/);
  });

  it('accepts zone offsets and normalises them to UTC', () => {
    const r = parseHttpBody(JSON.stringify([good('a', { timestamp: '2024-01-01T02:30:00.5+02:30' }), good('b', { timestamp: '2024-01-01 00:00:00Z' })]), opts);
    expect(r.samples.map((s) => s.timestamp.toISOString())).toEqual(['2024-01-01T00:00:00.500Z', '2024-01-01T00:00:00.000Z']);
  });
});

describe('whole-body problems', () => {
  it('malformed JSON', () => {
    const r = parseHttpBody('[{"name": "cpu",}]', opts);
    expect(r.samples).toEqual([]);
    expect(r.rejects).toEqual([{ index: -1, reason: 'body: invalid JSON at line 1 column 17: expected a string key, got "}"', payload: '[{"name": "cpu",}]' }]);
  });

  it('invalid UTF-8 is refused as a whole, naming the first bad byte', () => {
    const body = Buffer.concat([Buffer.from('[{"name": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]);
    const r = parseHttpBody(body, opts);
    expect(r.rejects).toEqual([{ index: -1, reason: 'body: not valid UTF-8: byte 0xC3 at offset 11 (sequence cut short by a non-continuation byte)', payload: body }]);
    const overlong = parseKafkaValue(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]), opts);
    expect(overlong.rejects[0]!.reason).toBe('value: not valid UTF-8: byte 0xC0 at offset 1 (byte can never start a UTF-8 sequence)');
  });

  it('U+FFFD sent as such (valid UTF-8) is kept, as is', () => {
    const body = Buffer.from(JSON.stringify([good('fffd', { resource_metadata: { display_name: 'a\uFFFDb' } })]), 'utf8');
    expect(body.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(true);
    const r = parseHttpBody(body, opts);
    expect(r.rejects).toEqual([]);
    expect(r.samples[0]!.resource_metadata.display_name).toBe('a\uFFFDb');
  });

  it('oversized body and value', () => {
    const body = JSON.stringify([good('a')]);
    expect(parseHttpBody(body, { ...opts, maxBodyBytes: 10 }).rejects[0]!.reason).toBe(`body: ${body.length} bytes exceeds the limit of 10 bytes`);
    expect(parseKafkaValue(Buffer.from(f.kafka_values[0]!), { ...opts, maxValueBytes: 100 }).rejects[0]!.reason).toMatch(
      /^value: \d+ bytes exceeds the limit of 100 bytes$/,
    );
  });

  it('a JSON scalar body and an empty body', () => {
    expect(parseHttpBody('42', opts).rejects[0]!.reason).toBe('body: expected a JSON list of samples or one sample object, got 42');
    expect(parseHttpBody('  ', opts).rejects[0]!.reason).toBe('body: empty (expected JSON)');
    expect(parseHttpBody('[]', opts)).toEqual({ samples: [], rejects: [] });
  });
});

describe('signature policy on counter_* messages', () => {
  const tampered = f.kafka_values[1]!.replace('"counter_volume": 1024.5', '"counter_volume": 1.5');

  it('reject (default): the tampered message is a reject naming the signature', () => {
    expect(tampered).not.toBe(f.kafka_values[1]);
    const r = parseKafkaValue(Buffer.from(tampered), opts);
    expect(r.samples).toEqual([]);
    expect(r.rejects[0]).toMatchObject({ index: 0, message_id: '5f2b3c7e-8bd1-11ef-9a3b-0242ac120003', payload: tampered });
    expect(r.rejects[0]!.reason).toMatch(/^message_signature: does not match/);
  });

  it('flag keeps it marked; off and an empty secret do not check', () => {
    const flagged = parseKafkaValue(Buffer.from(tampered), { ...opts, signaturePolicy: 'flag' });
    expect(flagged.samples).toHaveLength(1);
    expect(flagged.samples[0]).toMatchObject({ counter_volume: 1.5, signature_invalid: true });
    const off = parseKafkaValue(Buffer.from(tampered), { ...opts, signaturePolicy: 'off' });
    expect(off.samples[0]!.signature_invalid).toBeUndefined();
    expect(parseKafkaValue(Buffer.from(tampered), {}).samples).toHaveLength(1);
  });

  it('one bad item inside an oslo envelope does not drop its neighbours', () => {
    // Edit the inner text, not a JSON.parse'd copy: a parse/stringify round trip would also turn
    // item 2's float 1.0 into 1 and break its signature (the int/float distinction matters).
    const env = JSON.parse(f.oslo_envelope) as Record<string, string>;
    const innerText = env['oslo.message']!.replace('"counter_volume": 1024.5', '"counter_volume": 7');
    expect(innerText).not.toBe(env['oslo.message']);
    const ids = (JSON.parse(innerText) as { payload: { message_id: string }[] }).payload.map((p) => p.message_id);
    const r = parseKafkaValue(Buffer.from(JSON.stringify({ ...env, 'oslo.message': innerText })), opts);
    expect(r.samples.map((s) => s.message_id)).toEqual([ids[0], ids[2]]);
    expect(r.rejects.map((x) => [x.index, x.message_id])).toEqual([[1, ids[1]]]);
    expect(r.rejects[0]!.payload).toContain('"counter_volume": 7');
    expect((JSON.parse(r.rejects[0]!.payload as string) as { message_id: string }).message_id).toBe(ids[1]);
  });

  it('HTTP bodies may carry signed counter_* items, which are verified', () => {
    const msgs = f.kafka_values.map((v) => JSON.parse(v) as unknown);
    const r = parseHttpBody(`[${f.kafka_values[0]}, ${tampered}]`, opts);
    expect(r.samples.map((s) => s.message_id)).toEqual([(msgs[0] as { message_id: string }).message_id]);
    expect(r.rejects[0]!.reason).toMatch(/^message_signature/);
  });
});

describe('Kafka value shapes', () => {
  it('rejects an unsigned as_dict item on the Kafka path with a hint', () => {
    const r = parseKafkaValue(Buffer.from(JSON.stringify({ event_type: 'metering', payload: [good('a')] })), opts);
    expect(r.rejects[0]!.reason).toBe('counter_name: missing (this looks like an unsigned Sample.as_dict() item, which is only accepted on the HTTP route)');
  });

  it.each([
    ['[1]', 'value: expected one JSON object (a meter message or an oslo envelope), got a list of 1 item'],
    ['{"foo": 1}', 'value: neither a meter message (no counter_name) nor an oslo envelope (no oslo.message) nor a notification (no event_type)'],
    ['{"oslo.version": "1.0", "oslo.message": "{}"}', 'oslo.version: expected "2.0", got "1.0"'],
    ['{"oslo.version": "2.0", "oslo.message": "{nope"}', 'oslo.message: invalid JSON at line 1 column 2: expected a string key, got "n"'],
    ['{"oslo.version": "2.0", "oslo.message": {}}', 'oslo.message: expected a JSON-encoded string, got an object'],
    ['{"event_type": "compute.instance.exists", "payload": {}}', 'event_type: expected one of metering, metering.<meter>, telemetry.polling, telemetry.api (a sample notification; configured metering topics: ingest.meteringTopics, amqp.topics), got "compute.instance.exists"'],
    ['{"event_type": "telemetry.polling", "payload": {"samples": 3}}', 'payload: expected a list of meter messages or {"samples": [...]}, got an object'],
  ])('%s', (text, reason) => {
    expect(parseKafkaValue(Buffer.from(text), opts).rejects).toEqual([{ index: -1, reason, payload: Buffer.from(text) }]);
  });

  it("accepts a configured metering topic and its per-meter form (<topic>.<meter>) as event_type, and no other", () => {
    const signed = JSON.parse(f.kafka_values[0]!) as Record<string, unknown>;
    const note = (event_type: string) => Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ event_type, priority: 'SAMPLE', payload: [signed] }) }));
    const custom = { ...opts, meteringTopics: ['billing_meters'] };
    for (const et of ['billing_meters', 'billing_meters.cpu', 'telemetry.polling']) {
      const r = parseKafkaValue(note(et), custom);
      expect([et, r.rejects]).toEqual([et, []]);
      expect(r.samples.map((s) => s.message_id)).toEqual([signed.message_id]);
    }
    for (const et of ['metering', 'billing_metersx', 'billing_meters.', 'other.billing_meters']) {
      const r = parseKafkaValue(note(et), custom);
      expect(r.samples).toEqual([]);
      expect(r.rejects[0]!.reason).toMatch(/^event_type: expected one of billing_meters, billing_meters\.<meter>, /);
    }
    // the default topic is metering, per meter too
    expect(parseKafkaValue(note('metering.cpu'), opts).samples).toHaveLength(1);
  });

  it('accepts signed traffic produced by signSample', () => {
    const s = parseHttpBody(f.http_body, opts).samples[1]!;
    const r = parseKafkaValue(Buffer.from(JSON.stringify(signSample(s, f.secret))), opts);
    expect(r.rejects).toEqual([]);
    expect(withoutSignature(r)).toEqual(withoutSignature({ samples: [s], rejects: [] }));
  });
});
