/** Strict UTF-8 validation of raw bytes (before decoding, so nothing is silently replaced). */

export interface Utf8Problem {
  offset: number;
  byte: number;
  detail: string;
}

/** The first invalid UTF-8 sequence in `buf`, or null when it is all valid UTF-8. */
export function findInvalidUtf8(buf: Uint8Array): Utf8Problem | null {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) (need = 1), (min = 0x80);
    else if (b >= 0xe0 && b <= 0xef) (need = 2), (min = 0x800);
    else if (b >= 0xf0 && b <= 0xf4) (need = 3), (min = 0x10000);
    else return { offset: i, byte: b, detail: b >= 0x80 && b <= 0xbf ? 'unexpected continuation byte' : 'byte can never start a UTF-8 sequence' };
    if (i + need >= n) return { offset: i, byte: b, detail: 'sequence truncated at end of input' };
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return { offset: i, byte: b, detail: 'sequence cut short by a non-continuation byte' };
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min) return { offset: i, byte: b, detail: 'overlong encoding' };
    if (cp >= 0xd800 && cp <= 0xdfff) return { offset: i, byte: b, detail: 'encoded UTF-16 surrogate' };
    if (cp > 0x10ffff) return { offset: i, byte: b, detail: 'code point above U+10FFFF' };
    i += need + 1;
  }
  return null;
}

export function describeUtf8Problem(p: Utf8Problem): string {
  return `not valid UTF-8: byte 0x${p.byte.toString(16).toUpperCase().padStart(2, '0')} at offset ${p.offset} (${p.detail})`;
}
