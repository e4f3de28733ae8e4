import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';

/**
 * Reader for the GWA-T-12 Bitbrains VM traces (see shared/data/SOURCES.md): one file per VM, a header
 * line, `;\t`-separated decimal columns. Rows are yielded as they are — duplicate timestamps,
 * all-zero rows, CPU above 100 % and memory above provisioned are real data, not errors; deciding what
 * to do with them is the consumer's job (see trace-samples.ts). Only malformed lines are errors (or
 * skipped and counted, with `onBadRow: 'skip'`).
 */

export interface BitbrainsRow {
  /** Observation time, Unix epoch **seconds** (the header says ms; the values are seconds). */
  timestamp_s: number;
  cpu_cores: number;
  cpu_capacity_mhz: number;
  cpu_usage_mhz: number;
  /** CPU used, percent of provisioned capacity (can exceed 100). */
  cpu_usage_pct: number;
  memory_capacity_kb: number;
  memory_usage_kb: number;
  disk_read_kbps: number;
  disk_write_kbps: number;
  net_rx_kbps: number;
  net_tx_kbps: number;
  /** 1-based line number in the file. */
  line: number;
}

export const BITBRAINS_COLUMNS = [
  'Timestamp [ms]',
  'CPU cores',
  'CPU capacity provisioned [MHZ]',
  'CPU usage [MHZ]',
  'CPU usage [%]',
  'Memory capacity provisioned [KB]',
  'Memory usage [KB]',
  'Disk read throughput [KB/s]',
  'Disk write throughput [KB/s]',
  'Network received throughput [KB/s]',
  'Network transmitted throughput [KB/s]',
] as const;

const FIELDS = [
  'timestamp_s',
  'cpu_cores',
  'cpu_capacity_mhz',
  'cpu_usage_mhz',
  'cpu_usage_pct',
  'memory_capacity_kb',
  'memory_usage_kb',
  'disk_read_kbps',
  'disk_write_kbps',
  'net_rx_kbps',
  'net_tx_kbps',
] as const satisfies readonly (keyof BitbrainsRow)[];

export class TraceFormatError extends Error {}

/** Checks the header line; throws naming the file and the first unexpected column. */
export function checkHeader(line: string, file = 'trace'): void {
  const cols = line.replace(/^\uFEFF/, '').split(';').map((c) => c.trim());
  if (cols.length !== BITBRAINS_COLUMNS.length) {
    throw new TraceFormatError(`${file}:1: expected the Bitbrains header with ${BITBRAINS_COLUMNS.length} columns, got ${cols.length}`);
  }
  cols.forEach((c, i) => {
    if (c !== BITBRAINS_COLUMNS[i]) {
      throw new TraceFormatError(`${file}:1: column ${i + 1}: expected "${BITBRAINS_COLUMNS[i]}", got "${c}"`);
    }
  });
}

/** Parses one data line (`;`-separated, whitespace around values ignored, scientific notation accepted). */
export function parseRow(text: string, line: number, file = 'trace'): BitbrainsRow {
  const parts = text.split(';');
  if (parts.length !== FIELDS.length) {
    throw new TraceFormatError(`${file}:${line}: expected ${FIELDS.length} ';'-separated values, got ${parts.length}`);
  }
  const row = { line } as BitbrainsRow;
  for (let i = 0; i < FIELDS.length; i++) {
    const raw = parts[i]!.trim();
    const value = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) {
      throw new TraceFormatError(`${file}:${line}: column ${i + 1} (${BITBRAINS_COLUMNS[i]}): not a number: "${raw}"`);
    }
    if (value < 0) {
      throw new TraceFormatError(`${file}:${line}: column ${i + 1} (${BITBRAINS_COLUMNS[i]}): negative value ${raw}`);
    }
    row[FIELDS[i]!] = value;
  }
  return row;
}

export interface ReadOptions {
  /** 'error' (default): a malformed line throws; 'skip': it is skipped and passed to onSkip. */
  onBadRow?: 'error' | 'skip';
  onSkip?: (err: TraceFormatError) => void;
}

/** Streams the rows of a Bitbrains trace file (constant memory). */
export async function* readBitbrains(file: string, options: ReadOptions = {}): AsyncGenerator<BitbrainsRow> {
  const name = path.basename(file);
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (line === 1) {
        checkHeader(text, name);
        continue;
      }
      if (text.trim() === '') continue;
      try {
        yield parseRow(text, line, name);
      } catch (err) {
        if (options.onBadRow === 'skip' && err instanceof TraceFormatError) options.onSkip?.(err);
        else throw err;
      }
    }
  } finally {
    rl.close();
  }
  if (line === 0) throw new TraceFormatError(`${name}: empty file (no Bitbrains header)`);
}

/** Parses a whole trace held in memory (tests, small inputs). */
export function parseBitbrains(text: string, file = 'trace'): BitbrainsRow[] {
  const lines = text.split(/\r?\n/);
  checkHeader(lines[0] ?? '', file);
  const rows: BitbrainsRow[] = [];
  for (let i = 1; i < lines.length; i++) if (lines[i]!.trim() !== '') rows.push(parseRow(lines[i]!, i + 1, file));
  return rows;
}

/** VM name of a trace file: its file name without `.csv` (`.../27.csv` → `27`). */
export function traceVmName(file: string): string {
  return path.basename(file).replace(/\.csv$/i, '');
}
