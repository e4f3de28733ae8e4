/**
 * MessagePack → JSON text, for Ceilometer's udp:// and tcp:// publishers (`msgpack.dumps(msg,
 * use_bin_type=True)` of a signed meter message). The JSON text goes to the same parser as every other
 * transport, so signatures and number types are handled in one place. What matters for that:
 *  - a msgpack float stays a float literal (`1.0`, never `1`): Python's signature renders it as a float;
 *  - integers keep every digit (uint64/int64 through BigInt);
 *  - anything JSON cannot say (binary, ext types, NaN/Infinity, non-string map keys, trailing bytes) is
 *    an error naming what and where, never a silent change.
 */

export class MsgpackError extends Error {
  constructor(
    readonly detail: string,
    readonly offset: number,
  ) {
    super(`msgpack: ${detail} at byte ${offset}`);
  }
}

const MAX_DEPTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function floatLiteral(v: number, at: number): string {
  if (!Number.isFinite(v)) throw new MsgpackError(`float ${v} has no JSON form`, at);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** Decode one msgpack value spanning the whole buffer into JSON text. */
export function msgpackToJson(buf: Uint8Array): string {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > buf.length) throw new MsgpackError(`truncated: ${n} more byte(s) needed, ${buf.length - pos} left`, pos);
  };
  const str = (n: number): string => {
    need(n);
    const at = pos;
    pos += n;
    try {
      return JSON.stringify(utf8.decode(buf.subarray(at, at + n)));
    } catch {
      throw new MsgpackError('string is not valid UTF-8', at);
    }
  };
  const u8 = () => (need(1), buf[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4));

  const value = (depth: number): string => {
    if (depth > MAX_DEPTH) throw new MsgpackError(`nested deeper than ${MAX_DEPTH} levels`, pos);
    const at = pos;
    const b = u8();
    if (b <= 0x7f) return String(b);
    if (b >= 0xe0) return String(b - 0x100);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f, depth);
    if ((b & 0xf0) === 0x80) return map(b & 0x0f, depth);
    switch (b) {
      case 0xc0:
        return 'null';
      case 0xc2:
        return 'false';
      case 0xc3:
        return 'true';
      case 0xca:
        need(4);
        pos += 4;
        return floatLiteral(view.getFloat32(pos - 4), at);
      case 0xcb:
        need(8);
        pos += 8;
        return floatLiteral(view.getFloat64(pos - 8), at);
      case 0xcc:
        return String(u8());
      case 0xcd:
        return String(u16());
      case 0xce:
        return String(u32());
      case 0xcf:
        need(8);
        pos += 8;
        return view.getBigUint64(pos - 8).toString();
      case 0xd0:
        need(1);
        pos += 1;
        return String(view.getInt8(pos - 1));
      case 0xd1:
        need(2);
        pos += 2;
        return String(view.getInt16(pos - 2));
      case 0xd2:
        need(4);
        pos += 4;
        return String(view.getInt32(pos - 4));
      case 0xd3:
        need(8);
        pos += 8;
        return view.getBigInt64(pos - 8).toString();
      case 0xd9:
        return str(u8());
      case 0xda:
        return str(u16());
      case 0xdb:
        return str(u32());
      case 0xdc:
        return array(u16(), depth);
      case 0xdd:
        return array(u32(), depth);
      case 0xde:
        return map(u16(), depth);
      case 0xdf:
        return map(u32(), depth);
      case 0xc4:
      case 0xc5:
      case 0xc6:
        throw new MsgpackError('binary (bytes) value: a Ceilometer meter message has none', at);
      default:
        if (b === 0xc1) throw new MsgpackError('byte 0xc1 is never used in msgpack', at);
        throw new MsgpackError(`extension type 0x${b.toString(16)} has no JSON form`, at);
    }
  };
  const array = (n: number, depth: number): string => {
    // every element takes at least one byte: refuse lengths the input cannot hold before allocating
    if (n > buf.length - pos) throw new MsgpackError(`array of ${n} items in ${buf.length - pos} bytes`, pos);
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(value(depth + 1));
    return `[${items.join(',')}]`;
  };
  const map = (n: number, depth: number): string => {
    if (n * 2 > buf.length - pos) throw new MsgpackError(`map of ${n} entries in ${buf.length - pos} bytes`, pos);
    const items: string[] = [];
    for (let i = 0; i < n; i++) {
      const at = pos;
      const b = buf[pos];
      const isStr = b !== undefined && ((b & 0xe0) === 0xa0 || b === 0xd9 || b === 0xda || b === 0xdb);
      if (!isStr) throw new MsgpackError('map key is not a string', at);
      const key = value(depth + 1);
      items.push(`${key}:${value(depth + 1)}`);
    }
    return `{${items.join(',')}}`;
  };

  if (buf.length === 0) throw new MsgpackError('empty datagram', 0);
  const out = value(0);
  if (pos !== buf.length) throw new MsgpackError(`${buf.length - pos} trailing byte(s) after the value`, pos);
  return out;
}
