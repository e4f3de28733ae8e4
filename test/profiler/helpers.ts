import { readFileSync } from 'node:fs';
import { sharedPath } from '../support/paths';
import { parseBitbrains, type BitbrainsRow } from '../../profiler/bitbrains';

export const trace = (vm: string): string => sharedPath('data', 'traces', 'bitbrains-rnd', `${vm}.csv`);

export function rowsOf(vm: string): BitbrainsRow[] {
  return parseBitbrains(readFileSync(trace(vm), 'utf8'), `${vm}.csv`);
}

/**
 * The rows a running VM would have been polled for, computed independently of the profiler:
 * rows with zero cores/capacity dropped, first row per timestamp kept.
 */
export function polledRows(rows: BitbrainsRow[]): BitbrainsRow[] {
  const out: BitbrainsRow[] = [];
  let last = -Infinity;
  for (const r of rows) {
    if (r.cpu_cores === 0 || r.cpu_capacity_mhz === 0 || r.memory_capacity_kb === 0) continue;
    if (r.timestamp_s <= last) continue;
    last = r.timestamp_s;
    out.push(r);
  }
  return out;
}

