import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Observation } from './metrics';

export interface TraceOptions {
  /** Use at most this many rows per VM (after cleaning), from the start of the trace. */
  maxRows?: number;
  /** Multiply CPU% by this factor (e.g. 1.5 to see how a busier fleet would scale); capped at 100. */
  cpuScale?: number;
}

/**
 * Turn one Bitbrains (GWA-T-12 Rnd) VM trace into observations of a shard hosted on that VM: cpu =
 * `CPU usage [%]`, memory = usage / provisioned × 100. Follows /work/shared/data/SOURCES.md: the
 * separator is `;\t`, timestamps are epoch *seconds*, rows with 0 cores (VM off) are skipped,
 * duplicated timestamps keep the first row, and out-of-range values are clamped to [0, 100].
 */
export function traceToObservations(csvText: string, shard: string, opts: TraceOptions = {}): Observation[] {
  const out: Observation[] = [];
  const seen = new Set<number>();
  const lines = csvText.split('\n');
  const scale = opts.cpuScale ?? 1;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const c = line.split(';').map((x) => Number(x.trim()));
    if (c.length < 7 || c.some((v) => !Number.isFinite(v))) throw new Error(`${shard}: line ${i + 1}: expected 11 numeric ;-separated columns`);
    const [ts, cores, , , cpuPct, memProv, memUsed] = c as [number, number, number, number, number, number, number];
    if (cores <= 0 || seen.has(ts)) continue;
    seen.add(ts);
    const o: Observation = { t: new Date(ts * 1000), shard, cpu: clamp(cpuPct * scale) };
    if (memProv > 0) o.memory = clamp((memUsed / memProv) * 100);
    out.push(o);
    if (opts.maxRows !== undefined && out.length >= opts.maxRows) break;
  }
  return out;
}

/** Load several trace files (shard name = `vm<file id>`). */
export function loadTraces(files: readonly string[], opts: TraceOptions = {}): Observation[] {
  return files.flatMap((f) => traceToObservations(readFileSync(f, 'utf8'), `vm${path.basename(f, '.csv')}`, opts));
}

const clamp = (v: number): number => Math.min(100, Math.max(0, v));
