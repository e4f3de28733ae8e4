import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Poll } from '../../agent/metrics';
import { RawStore, type RawStoreOptions } from '../../agent/raw-store';
import { Spool } from '../../agent/spool';
import type { Sample } from '../../pipeline/sample';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-local-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dir = () => path.join(tmp, `d${n++}`);
const opts = (d: string, over: Partial<RawStoreOptions> = {}): RawStoreOptions => ({ dir: d, retentionMs: 86_400_000, maxBytes: 1 << 30, segmentBytes: 1 << 20, segmentMs: 3_600_000, fsyncMs: 60_000, ...over });
const poll = (t: number, v: number, keys = ['cpu\u001fh', 'mem\u001fh']): Poll => ({ t, values: new Map(keys.map((k, i) => [k, v + i])) });

describe('local raw store', () => {
  it('keeps every poll across a restart (a new process opening the same directory reads them and appends after them)', () => {
    const d = dir();
    const a = new RawStore(opts(d));
    for (let i = 0; i < 50; i++) a.append(poll(1000 + i * 1000, i));
    a.close();
    const b = new RawStore(opts(d));
    expect(b.newest).toBe(50_000);
    expect(b.points('cpu\u001fh', 0, Infinity)).toEqual(Array.from({ length: 50 }, (_, i) => ({ t: 1000 + i * 1000, v: i })));
    expect(() => b.append(poll(50_000, 0))).toThrow(/not after the newest/);
    b.append(poll(51_000, 99));
    expect(b.points('mem\u001fh', 45_000, 52_000).map((p) => p.v)).toEqual([45, 46, 47, 48, 49, 50, 100]);
    b.close();
  });

  it('survives a crash mid-write: a torn last line is skipped, every whole poll before it is read, and new polls go to a new segment', () => {
    const d = dir();
    const a = new RawStore(opts(d));
    for (let i = 0; i < 10; i++) a.append(poll(1000 + i * 1000, i));
    // no close(): the process died; its last write was torn half way
    const seg = path.join(d, readdirSync(d)[0]!);
    const whole = readFileSync(seg, 'utf8');
    const last = whole.trimEnd().split('\n').at(-1)!;
    appendFileSync(seg, last.slice(0, 20));
    const b = new RawStore(opts(d));
    b.append(poll(11_000, 10));
    const pts = b.points('cpu\u001fh', 0, Infinity);
    expect(pts.map((p) => p.v)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(b.corruptLines).toBeGreaterThanOrEqual(1);
    expect(readdirSync(d).filter((f) => f.endsWith('.seg'))).toHaveLength(2);
    // a line whose bytes changed on disk fails its check and is skipped, not misread
    writeFileSync(seg, whole.replace(/\[3000,2,3\]/, '[3000,7,3]'));
    const c = new RawStore(opts(d));
    expect(c.points('cpu\u001fh', 0, Infinity).map((p) => p.v)).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('retention by size: the oldest segments go first and the store stays under the bound', () => {
    const d = dir();
    const s = new RawStore(opts(d, { segmentBytes: 2000, maxBytes: 10_000 }));
    for (let i = 0; i < 2000; i++) s.append(poll(1000 + i * 1000, i));
    const onDisk = readdirSync(d).reduce((a, f) => a + statSync(path.join(d, f)).size, 0);
    expect(onDisk).toBeLessThanOrEqual(10_000 + 2000);
    const pts = s.points('cpu\u001fh', 0, Infinity);
    expect(pts.at(-1)).toEqual({ t: 2_000_000, v: 1999 });
    expect(pts.length).toBeLessThan(2000);
    // what is kept is a contiguous newest stretch
    expect(pts.every((p, i) => i === 0 || p.t - pts[i - 1]!.t === 1000)).toBe(true);
  });

  it('retention by age: a segment whose polls are all older than the retention is deleted', () => {
    const d = dir();
    const s = new RawStore(opts(d, { segmentMs: 10_000, retentionMs: 60_000 }));
    for (let i = 0; i <= 300; i++) s.append(poll(i * 1000, i));
    const pts = s.points('cpu\u001fh', 0, Infinity);
    expect(pts[0]!.t).toBeGreaterThanOrEqual(300_000 - 60_000 - 10_000);
    expect(pts[0]!.t).toBeLessThanOrEqual(300_000 - 60_000);
  });

  it('a new metric (a disk plugged in) starts a new segment; both are read back by key', () => {
    const d = dir();
    const s = new RawStore(opts(d));
    s.append(poll(1000, 1));
    s.append(poll(2000, 2, ['cpu\u001fh', 'mem\u001fh', 'disk\u001fh.sdb']));
    expect(s.segmentCount).toBe(2);
    expect(s.points('disk\u001fh.sdb', 0, Infinity)).toEqual([{ t: 2000, v: 4 }]);
    expect(s.points('cpu\u001fh', 0, Infinity)).toEqual([{ t: 1000, v: 1 }, { t: 2000, v: 2 }]);
    expect([...s.keysStored()].sort()).toEqual(['cpu\u001fh', 'disk\u001fh.sdb', 'mem\u001fh']);
  });
});

const sample = (i: number): Sample => ({ counter_name: 'm', counter_type: 'gauge', counter_unit: '%', counter_volume: i, user_id: null, project_id: null, resource_id: 'h', timestamp: new Date(1000 * i), resource_metadata: { window: { count: 1 } }, source: 's', message_id: `id-${i}`, message_signature: '' });

describe('spool', () => {
  it('keeps batches across a restart, oldest first, until each is acknowledged', () => {
    const d = dir();
    const a = new Spool(d, 1 << 20);
    a.append([sample(1), sample(2)]);
    a.append([sample(3)]);
    const b = new Spool(d, 1 << 20);
    expect(b.batches).toBe(2);
    expect(b.samples).toBe(3);
    const first = b.peek()!;
    expect(first.samples.map((s) => s.message_id)).toEqual(['id-1', 'id-2']);
    expect(first.samples[0]!.timestamp).toEqual(new Date(1000));
    b.ack(first.seq);
    b.append([sample(4)]);
    const c = new Spool(d, 1 << 20);
    expect(c.peek()!.samples.map((s) => s.message_id)).toEqual(['id-3']);
    expect(c.batches).toBe(2);
  });

  it('a batch torn by a crash (temporary file) is never sent; a complete one is', () => {
    const d = dir();
    const a = new Spool(d, 1 << 20);
    a.append([sample(1)]);
    writeFileSync(path.join(d, '0000000000000002.json.tmp'), '[{"counter_na');
    const b = new Spool(d, 1 << 20);
    expect(b.batches).toBe(1);
    expect(readdirSync(d)).toEqual(['0000000000000001.json']);
  });

  it('at the bound the OLDEST batches are dropped and counted; the newest is kept', () => {
    const d = dir();
    const one = Buffer.byteLength(JSON.stringify([sample(1)]));
    const drops: number[] = [];
    const s = new Spool(d, one * 3 + 10, (_b, n) => drops.push(n));
    for (let i = 1; i <= 5; i++) s.append([sample(i)]);
    expect(s.batches).toBe(3);
    expect(s.droppedSamples).toBe(2);
    expect(drops).toEqual([1, 1]);
    expect(s.peek()!.samples[0]!.message_id).toBe('id-3');
    expect(s.bytes).toBeLessThanOrEqual(one * 3 + 10);
  });

  it('a batch file changed on disk so it no longer parses is set aside (.bad) and the batches behind it are still sent', () => {
    const d = dir();
    const a = new Spool(d, 1 << 20);
    a.append([sample(1)]);
    a.append([sample(2)]);
    writeFileSync(path.join(d, '0000000000000001.json'), '[{"broken');
    expect(a.peek()!.samples[0]!.message_id).toBe('id-2');
    expect(a.badBatches).toBe(1);
    expect(readdirSync(d).sort()).toEqual(['0000000000000001.json.bad', '0000000000000002.json']);
    // a restarted agent does not pick the set-aside file up again
    expect(new Spool(d, 1 << 20).batches).toBe(1);
  });
});
