/**
 * The load of a replay: Bitbrains trace files read row by row (profiler/bitbrains.ts) and turned into
 * each VM's Ceilometer samples by the profiler's TraceSampler, merged across VMs in trace-time order
 * so that a paced replay sends what a fleet of compute agents would have sent at that moment.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readBitbrains, traceVmName, type BitbrainsRow } from '../../profiler/bitbrains';
import { TraceSampler, type TraceSampleStats } from '../../profiler/trace-samples';
import type { Sample } from '../sample';

export interface TraceSlice {
  /** At most this many rows of each trace file (after `from`); default all. */
  limitRows?: number;
  /** Emit only rows at or after this instant (epoch seconds). Earlier rows still advance the counters. */
  fromS?: number;
  /** Stop each trace at its first row at or after this instant (epoch seconds). */
  untilS?: number;
  /** Use only the first N trace files (in numeric order of their names). */
  vms?: number;
}

export class TraceSourceError extends Error {}

const byName = (a: string, b: string): number => {
  const na = Number(traceVmName(a));
  const nb = Number(traceVmName(b));
  return Number.isFinite(na) && Number.isFinite(nb) && na !== nb ? na - nb : a.localeCompare(b);
};

/** Expand DIR|FILE arguments into trace files (a directory contributes its *.csv), numeric order, no repeats. */
export function traceFiles(args: readonly string[], vms?: number): string[] {
  if (args.length === 0) throw new TraceSourceError('no trace given: pass a directory of Bitbrains *.csv files or the files themselves');
  const files: string[] = [];
  for (const arg of args) {
    let st;
    try {
      st = statSync(arg);
    } catch {
      throw new TraceSourceError(`${arg}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const csv = readdirSync(arg).filter((f) => f.toLowerCase().endsWith('.csv')).map((f) => path.join(arg, f)).sort(byName);
      if (csv.length === 0) throw new TraceSourceError(`${arg}: directory holds no *.csv trace files`);
      files.push(...csv);
    } else files.push(arg);
  }
  const unique = [...new Set(files.map((f) => path.resolve(f)))];
  if (vms !== undefined) {
    if (!Number.isInteger(vms) || vms < 1) throw new TraceSourceError(`--vms: expected a positive integer, got ${vms}`);
    return unique.slice(0, vms);
  }
  return unique;
}

/** `--from`/`--until`: epoch seconds, or an ISO-8601 date/time (UTC unless it has a zone). */
export function parseInstant(text: string, option: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(t) || !/T|\s\d/.test(t) ? t : `${t}Z`;
  const ms = Date.parse(/^\d{4}-\d\d-\d\d$/.test(iso) ? `${iso}T00:00:00Z` : iso);
  if (Number.isNaN(ms)) throw new TraceSourceError(`${option}: expected epoch seconds or an ISO-8601 time, got ${JSON.stringify(text)}`);
  return ms / 1000;
}

/** Upper bound on the rows a slice will read (for the progress bar): data lines, capped by limitRows. */
export function countRows(files: readonly string[], slice: TraceSlice = {}): number {
  let total = 0;
  for (const f of files) {
    const buf = readFileSync(f);
    let lines = 0;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++;
    if (buf.length > 0 && buf[buf.length - 1] !== 10) lines++;
    const data = Math.max(0, lines - 1);
    total += slice.limitRows !== undefined ? Math.min(slice.limitRows, data) : data;
  }
  return total;
}

/** One trace row's samples. */
export interface RowSamples {
  vm: string;
  /** Trace time of the row (epoch seconds). */
  timestampS: number;
  samples: Sample[];
}

export interface TraceVm {
  name: string;
  file: string;
  instanceId: string;
  stats: TraceSampleStats;
  /** Rows emitted (inside the slice). */
  emittedRows: number;
  /** Samples emitted (inside the slice). */
  emittedSamples: number;
}

interface Cursor {
  vm: TraceVm;
  sampler: TraceSampler;
  rows: AsyncGenerator<BitbrainsRow>;
  head: BitbrainsRow | undefined;
}

/**
 * Rows of every file merged by trace time (ties: file order), each turned into its VM's samples.
 * `vms` is filled as the files are opened, with each sampler's statistics.
 */
export async function* traceRowSamples(files: readonly string[], slice: TraceSlice = {}, vms: TraceVm[] = []): AsyncGenerator<RowSamples> {
  const cursors: Cursor[] = [];
  const advance = async (c: Cursor): Promise<void> => {
    for (;;) {
      if (slice.limitRows !== undefined && c.vm.emittedRows >= slice.limitRows) {
        c.head = undefined;
        break;
      }
      const next = await c.rows.next();
      if (next.done) {
        c.head = undefined;
        break;
      }
      const row = next.value;
      if (slice.untilS !== undefined && row.timestamp_s >= slice.untilS) {
        c.head = undefined;
        break;
      }
      if (slice.fromS !== undefined && row.timestamp_s < slice.fromS) {
        c.sampler.samples(row); // keeps cumulative counters where a full replay would have them
        continue;
      }
      c.head = row;
      break;
    }
    if (c.head === undefined) await c.rows.return(undefined);
  };
  try {
    for (const file of files) {
      const sampler = new TraceSampler(traceVmName(file));
      const vm: TraceVm = { name: sampler.vm.name, file, instanceId: sampler.vm.instanceId, stats: sampler.stats, emittedRows: 0, emittedSamples: 0 };
      vms.push(vm);
      const c: Cursor = { vm, sampler, rows: readBitbrains(file), head: undefined };
      await advance(c);
      if (c.head) cursors.push(c);
    }
    while (cursors.length > 0) {
      let k = 0;
      for (let i = 1; i < cursors.length; i++) if (cursors[i]!.head!.timestamp_s < cursors[k]!.head!.timestamp_s) k = i;
      const c = cursors[k]!;
      const row = c.head!;
      c.vm.emittedRows++;
      const samples = c.sampler.samples(row);
      c.vm.emittedSamples += samples.length;
      await advance(c);
      if (!c.head) cursors.splice(k, 1);
      yield { vm: c.vm.name, timestampS: row.timestamp_s, samples };
    }
  } finally {
    for (const c of cursors) await c.rows.return(undefined);
  }
}
