import { readFileSync } from 'node:fs';
import { parseBitbrains, traceVmName } from '../profiler/bitbrains';
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
  const scale = opts.cpuScale ?? 1;
  // the profiler's reader validates the header and every row (errors name file:line)
  for (const row of parseBitbrains(csvText, shard)) {
    if (row.cpu_cores <= 0 || seen.has(row.timestamp_s)) continue;
    seen.add(row.timestamp_s);
    const o: Observation = { t: new Date(row.timestamp_s * 1000), shard, cpu: clamp(row.cpu_usage_pct * scale) };
    if (row.memory_capacity_kb > 0) o.memory = clamp((row.memory_usage_kb / row.memory_capacity_kb) * 100);
    out.push(o);
    if (opts.maxRows !== undefined && out.length >= opts.maxRows) break;
  }
  return out;
}

/** Load several trace files (shard name = `vm<file id>`). */
export function loadTraces(files: readonly string[], opts: TraceOptions = {}): Observation[] {
  return files.flatMap((f) => traceToObservations(readFileSync(f, 'utf8'), `vm${traceVmName(f)}`, opts));
}

const clamp = (v: number): number => Math.min(100, Math.max(0, v));
