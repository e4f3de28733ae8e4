/**
 * The local raw store on the host's disk: every poll is appended, nothing leaves the host unless a
 * request asks for it. Segment files `<first poll ms>.seg` in one directory: a header line naming
 * the metric keys, then one line per poll, `<check> [t, v1, v2, …]` where <check> is the first 8 hex
 * digits of the line's SHA-256. A line torn by a crash or power loss fails its check and is skipped;
 * a reopened store never appends after it (it starts a new segment). Retention: whole segments are
 * deleted oldest first when their newest poll is older than `retentionMs` or the directory holds
 * more than `maxBytes`.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Poll } from './metrics';

export interface RawStoreOptions {
  dir: string;
  retentionMs: number;
  maxBytes: number;
  segmentBytes: number;
  segmentMs: number;
  /** fdatasync at most every this many ms (0 = every append). */
  fsyncMs: number;
}

export interface RawPoint {
  t: number;
  v: number;
}

interface Segment {
  file: string;
  start: number;
  bytes: number;
}

const check = (body: string) => createHash('sha256').update(body).digest('hex').slice(0, 8);

export class RawStore {
  private segments: Segment[] = [];
  private fd: number | undefined;
  private keys: string[] = [];
  private keyIndex = new Map<string, number>();
  private lastSync = 0;
  private lastT = -Infinity;
  /** Lines skipped on read because their check failed (torn or corrupted). */
  corruptLines = 0;

  constructor(private readonly opts: RawStoreOptions) {
    mkdirSync(opts.dir, { recursive: true });
    for (const f of readdirSync(opts.dir)) {
      const m = /^(\d+)\.seg$/.exec(f);
      if (m) this.segments.push({ file: path.join(opts.dir, f), start: Number(m[1]), bytes: statSync(path.join(opts.dir, f)).size });
    }
    this.segments.sort((a, b) => a.start - b.start);
    // polls already on disk are the floor for new ones (a reopened store keeps time order)
    const last = this.segments.at(-1);
    if (last) for (const p of this.readSegment(last)) this.lastT = Math.max(this.lastT, p.t);
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.segments.reduce((s, x) => s + x.bytes, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Time of the newest stored poll (-Infinity when empty). */
  get newest(): number {
    return this.lastT;
  }

  /**
   * Append one poll (polls must come in time order; an older one is refused). `knownKeys` (the
   * discovered metrics) go into a new segment's header too, so a metric missing from one poll (CPU
   * utilisation on the first) does not force a new segment on the next.
   */
  append(poll: Poll, knownKeys?: Iterable<string>): void {
    if (poll.t <= this.lastT) throw new RangeError(`raw store: poll at ${poll.t} is not after the newest stored poll ${this.lastT}`);
    const cur = this.segments.at(-1);
    const newKeys = [...poll.values.keys()].some((k) => !this.keyIndex.has(k));
    if (this.fd === undefined || !cur || newKeys || cur.bytes >= this.opts.segmentBytes || poll.t - cur.start >= this.opts.segmentMs) this.rotate(poll, knownKeys);
    const row: Array<number | null> = new Array(this.keys.length + 1).fill(null);
    row[0] = poll.t;
    for (const [k, v] of poll.values) row[this.keyIndex.get(k)! + 1] = v;
    const body = JSON.stringify(row);
    this.write(`${check(body)} ${body}\n`);
    this.lastT = poll.t;
    this.enforceRetention(poll.t);
  }

  private rotate(poll: Poll, knownKeys?: Iterable<string>): void {
    this.closeFd();
    // a new segment names every key of this poll; a segment's key set never changes
    this.keys = [...new Set([...poll.values.keys(), ...(knownKeys ?? [])])];
    this.keyIndex = new Map(this.keys.map((k, i) => [k, i]));
    let start = poll.t;
    while (this.segments.some((s) => s.start === start)) start++;
    const file = path.join(this.opts.dir, `${start}.seg`);
    this.fd = openSync(file, 'a');
    this.segments.push({ file, start, bytes: 0 });
    const header = JSON.stringify({ v: 1, keys: this.keys });
    this.write(`${check(header)} ${header}\n`);
  }

  private write(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    writeSync(this.fd!, buf);
    this.segments.at(-1)!.bytes += buf.length;
    const now = Date.now();
    if (now - this.lastSync >= this.opts.fsyncMs) {
      fdatasyncSync(this.fd!);
      this.lastSync = now;
    }
  }

  private enforceRetention(now: number): void {
    // never the segment being written
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const next = this.segments[1]!;
      const tooOld = next.start <= now - this.opts.retentionMs; // every poll in `oldest` is before next.start
      if (!tooOld && this.bytes <= this.opts.maxBytes) break;
      try {
        unlinkSync(oldest.file);
      } catch {
        /* already gone */
      }
      this.segments.shift();
    }
  }

  private *readSegment(seg: Segment): Generator<{ t: number; values: Array<[string, number]> }> {
    let text: string;
    try {
      text = readFileSync(seg.file, 'utf8');
    } catch {
      return; // deleted by retention meanwhile
    }
    let keys: string[] | undefined;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const sp = line.indexOf(' ');
      const body = line.slice(sp + 1);
      if (sp !== 8 || check(body) !== line.slice(0, 8)) {
        this.corruptLines++;
        continue;
      }
      const parsed = JSON.parse(body) as { keys: string[] } | Array<number | null>;
      if (!Array.isArray(parsed)) {
        keys = parsed.keys;
        continue;
      }
      if (!keys) continue;
      const values: Array<[string, number]> = [];
      for (let i = 1; i < parsed.length; i++) if (parsed[i] !== null) values.push([keys[i - 1]!, parsed[i] as number]);
      yield { t: parsed[0] as number, values };
    }
  }

  /** Every stored poll with from ≤ t < to, in time order. */
  *polls(from: number, to: number): Generator<Poll> {
    const segs = this.segments.slice();
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const segEnd = segs[i + 1]?.start ?? Infinity;
      if (segEnd <= from || seg.start >= to) continue;
      for (const p of this.readSegment(seg)) if (p.t >= from && p.t < to) yield { t: p.t, values: new Map(p.values) };
    }
  }

  /** The points of one metric with from ≤ t < to. */
  points(key: string, from: number, to: number): RawPoint[] {
    const out: RawPoint[] = [];
    for (const p of this.polls(from, to)) {
      const v = p.values.get(key);
      if (v !== undefined) out.push({ t: p.t, v });
    }
    return out;
  }

  /** Metric keys present in the store (those of every segment). */
  keysStored(): Set<string> {
    const out = new Set<string>();
    for (const seg of this.segments) {
      const first = (() => {
        try {
          return readFileSync(seg.file, 'utf8').split('\n', 1)[0]!;
        } catch {
          return '';
        }
      })();
      const body = first.slice(9);
      if (first.length > 9 && check(body) === first.slice(0, 8)) for (const k of (JSON.parse(body) as { keys: string[] }).keys) out.add(k);
    }
    return out;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      fdatasyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  close(): void {
    this.closeFd();
  }
}
