/**
 * The spool: window samples wait here, on disk, until the destination has taken them. Every batch is
 * one file `<sequence>.json` written atomically (temporary file, fsync, rename), so a crash leaves
 * either the whole batch or none of it, and the spool of a restarted agent is sent first. A batch is
 * deleted only after the destination acknowledged it. Bounded by `maxBytes`: when a new batch would
 * exceed it, the OLDEST batches are dropped (and counted, and logged by the caller) — the newest
 * data is kept, because the host's raw store still holds the polls behind the dropped windows
 * (within its retention), so they can be asked for with GET /v1/resources/:id/raw.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Sample } from '../pipeline/sample';

export interface SpoolBatch {
  seq: number;
  samples: Sample[];
}

interface Entry {
  seq: number;
  file: string;
  bytes: number;
  count: number;
}

const name = (seq: number) => `${String(seq).padStart(16, '0')}.json`;

export class Spool {
  private entries: Entry[] = [];
  private nextSeq = 1;
  /** Batches and samples dropped because the bound was reached (since this process started). */
  droppedBatches = 0;
  droppedSamples = 0;
  /** Batch files found unreadable and set aside as `<seq>.json.bad`. */
  badBatches = 0;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly onDrop?: (batches: number, samples: number) => void,
  ) {
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.tmp')) {
        unlinkSync(path.join(dir, f)); // a crash during a write: that batch was never acknowledged to anyone
        continue;
      }
      const m = /^(\d{16})\.json$/.exec(f);
      if (!m) continue;
      const file = path.join(dir, f);
      let count = 0;
      try {
        count = (JSON.parse(readFileSync(file, 'utf8')) as unknown[]).length;
      } catch {
        continue; // unreadable: left in place for inspection, never sent
      }
      this.entries.push({ seq: Number(m[1]), file, bytes: statSync(file).size, count });
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    this.nextSeq = (this.entries.at(-1)?.seq ?? 0) + 1;
  }

  get bytes(): number {
    return this.entries.reduce((s, e) => s + e.bytes, 0);
  }

  /** Batches and samples waiting. */
  get batches(): number {
    return this.entries.length;
  }

  get samples(): number {
    return this.entries.reduce((s, e) => s + e.count, 0);
  }

  /** Put a batch on disk (durable when this returns). */
  append(samples: readonly Sample[]): void {
    if (samples.length === 0) return;
    const body = JSON.stringify(samples);
    const bytes = Buffer.byteLength(body);
    let dropB = 0;
    let dropS = 0;
    while (this.entries.length > 0 && this.bytes + bytes > this.maxBytes) {
      const old = this.entries.shift()!;
      try {
        unlinkSync(old.file);
      } catch {
        /* already gone */
      }
      dropB++;
      dropS += old.count;
    }
    if (dropB) {
      this.droppedBatches += dropB;
      this.droppedSamples += dropS;
      this.onDrop?.(dropB, dropS);
    }
    const seq = this.nextSeq++;
    const file = path.join(this.dir, name(seq));
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, body);
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } catch {
      /* some filesystems refuse fsync on a directory */
    } finally {
      closeSync(dfd);
    }
    this.entries.push({ seq, file, bytes, count: samples.length });
  }

  /**
   * The oldest waiting batch, or undefined. A batch file that cannot be read any more (changed on
   * disk) is renamed to `.bad`, counted, and skipped, so it cannot stall the ones behind it.
   */
  peek(): SpoolBatch | undefined {
    for (;;) {
      const e = this.entries[0];
      if (!e) return undefined;
      try {
        const raw = JSON.parse(readFileSync(e.file, 'utf8')) as Array<Sample & { timestamp: string }>;
        return { seq: e.seq, samples: raw.map((s) => ({ ...s, timestamp: new Date(s.timestamp) })) };
      } catch {
        this.entries.shift();
        this.badBatches++;
        try {
          renameSync(e.file, `${e.file}.bad`);
        } catch {
          /* gone */
        }
      }
    }
  }

  /** The destination took batch `seq`: forget it. */
  ack(seq: number): void {
    const i = this.entries.findIndex((e) => e.seq === seq);
    if (i < 0) return; // dropped by the bound meanwhile
    const [e] = this.entries.splice(i, 1);
    try {
      unlinkSync(e!.file);
    } catch {
      /* already gone */
    }
  }
}
