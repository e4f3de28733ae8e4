import { describe, expect, it } from 'vitest';
import { msgpackToJson, MsgpackError } from '../../../pipeline/listeners/msgpack';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('msgpack → JSON text (udp:// and tcp:// publishers)', () => {
  it.each([
    ['c0', 'null'],
    ['c3', 'true'],
    ['7f', '127'],
    ['ff', '-1'],
    ['cd 1234', '4660'],
    ['cf ffffffffffffffff', '18446744073709551615'], // uint64 beyond 2^53: every digit kept
    ['d3 8000000000000000', '-9223372036854775808'],
    ['cb 3ff0000000000000', '1.0'], // a float stays a float literal, even integral (signatures render 1.0)
    ['cb 3fb999999999999a', '0.1'],
    ['cb 4415af1d78b58c40', '100000000000000000000.0'],
    ['cb 444b1ae4d6e2ef50', '1e+21'],
    ['a3 637075', '"cpu"'],
    ['92 01 a1 61', '[1,"a"]'],
    ['81 a1 6b 81 a1 6e cb 4004000000000000', '{"k":{"n":2.5}}'],
    ['a2 c3a9', '"é"'],
    ['a1 22', '"\\""'],
  ])('%s → %s', (bytes, json) => {
    expect(msgpackToJson(hex(bytes))).toBe(json);
  });

  it.each([
    ['', 'msgpack: empty datagram at byte 0'],
    ['cd 12', 'msgpack: truncated: 2 more byte(s) needed, 1 left at byte 1'],
    ['01 02', 'msgpack: 1 trailing byte(s) after the value at byte 1'],
    ['c4 01 00', 'msgpack: binary (bytes) value: a Ceilometer meter message has none at byte 0'],
    ['d4 01 00', 'msgpack: extension type 0xd4 has no JSON form at byte 0'],
    ['81 01 02', 'msgpack: map key is not a string at byte 1'],
    ['cb 7ff8000000000000', 'msgpack: float NaN has no JSON form at byte 0'],
    ['a2 c328', 'msgpack: string is not valid UTF-8 at byte 1'],
    ['dd ffffffff', 'msgpack: array of 4294967295 items in 0 bytes at byte 5'],
  ])('%s is refused: %s', (bytes, message) => {
    let err: unknown;
    try {
      msgpackToJson(hex(bytes));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MsgpackError);
    expect((err as Error).message).toBe(message);
  });

  it('refuses nesting deeper than 64 levels instead of exhausting the stack', () => {
    expect(() => msgpackToJson(Buffer.concat([Buffer.alloc(100, 0x91), hex('01')]))).toThrow(/nested deeper than 64 levels/);
  });
});
