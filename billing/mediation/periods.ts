/**
 * Billing periods: hour, day or month, truncated in a time zone exactly as MongoDB's
 * `$dateTrunc {unit, timezone}` / `$dateAdd` do, so the JS reference mediation and the aggregation
 * pipeline put every sample in the same period. Time zones are IANA names ("Europe/Berlin") or "UTC".
 */
export const GRANULARITIES = ['hour', 'day', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** True when `tz` is a time zone name this runtime (and so MongoDB's tz database) understands. */
export function isValidTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface Wall { y: number; mo: number; d: number; h: number; mi: number; s: number }

function wall(ms: number, tz: string): Wall {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, mo: parts.month!, d: parts.day!, h: parts.hour!, mi: parts.minute!, s: parts.second! };
}

/** Offset (ms) of `tz` from UTC at instant `ms`. */
function offsetAt(ms: number, tz: string): number {
  const w = wall(ms, tz);
  const asUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * The instant at which the wall clock in `tz` shows the given local time: the first one if it shows
 * it twice (clocks set back), and the first instant after the gap if it never does (clocks set
 * forward across it, e.g. America/Santiago's days that start at 01:00 when DST begins at midnight).
 */
export function fromWall(y: number, mo: number, d: number, h: number, tz: string): number {
  const local = Date.UTC(y, mo - 1, d, h);
  const before = offsetAt(local - 86_400_000, tz);
  const after = offsetAt(local + 86_400_000, tz);
  const shows = (ms: number) => {
    const w = wall(ms, tz);
    return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi) === local;
  };
  const matches = [local - before, local - after].filter(shows).sort((a, b) => a - b);
  if (matches.length) return matches[0]!;
  // In a gap: the clock jumped from before the requested time to after it at the transition, which
  // is `local - before` when the requested time is the first one skipped (a day or month boundary).
  return local - Math.min(before, after);
}

const QUARTER_HOUR = 900_000; // every time zone offset and DST shift is a multiple of 15 minutes
const startCache = new Map<string, number>();
const addCache = new Map<string, number>();

function remember(cache: Map<string, number>, key: string, compute: () => number): number {
  let v = cache.get(key);
  if (v === undefined) {
    if (cache.size > 200_000) cache.clear();
    v = compute();
    cache.set(key, v);
  }
  return v;
}

function truncate(ms: number, unit: Granularity, tz: string): number {
  if (tz === 'UTC') {
    if (unit === 'hour') return Math.floor(ms / 3_600_000) * 3_600_000;
    if (unit === 'day') return Math.floor(ms / 86_400_000) * 86_400_000;
    const d = new Date(ms);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  if (unit === 'hour') {
    // hours are fixed 3600 s; truncating in local time only matters for zones with sub-hour offsets
    const off = offsetAt(ms, tz);
    return Math.floor((ms + off) / 3_600_000) * 3_600_000 - off;
  }
  const w = wall(ms, tz);
  return unit === 'day' ? fromWall(w.y, w.mo, w.d, 0, tz) : fromWall(w.y, w.mo, 1, 0, tz);
}

/** Start of the period containing `date` in `tz` (like `$dateTrunc`). */
export function periodStart(date: Date, unit: Granularity, tz = 'UTC'): Date {
  const ms = date.getTime();
  // a period boundary is always on a quarter hour, so every instant of a quarter hour truncates alike
  const q = Math.floor(ms / QUARTER_HOUR) * QUARTER_HOUR;
  return new Date(remember(startCache, `${unit}|${tz}|${q}`, () => truncate(q, unit, tz)));
}

/** Start of the period `n` periods after the one starting at `start` (like `$dateAdd`). */
export function addPeriods(start: Date, unit: Granularity, n: number, tz = 'UTC'): Date {
  if (unit === 'hour') return new Date(start.getTime() + n * 3_600_000);
  return new Date(
    remember(addCache, `${unit}|${tz}|${start.getTime()}|${n}`, () => {
      if (tz === 'UTC') {
        const d = new Date(start.getTime());
        return unit === 'day' ? start.getTime() + n * 86_400_000 : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes());
      }
      const w = wall(start.getTime(), tz);
      return unit === 'day' ? fromWall(w.y, w.mo, w.d + n, 0, tz) : fromWall(w.y, w.mo + n, 1, 0, tz);
    }),
  );
}

export function periodEnd(start: Date, unit: Granularity, tz = 'UTC'): Date {
  return addPeriods(start, unit, 1, tz);
}

/** Every period start in [from, to) — `from` is truncated first. */
export function periodsBetween(from: Date, to: Date, unit: Granularity, tz = 'UTC'): Date[] {
  const out: Date[] = [];
  for (let p = periodStart(from, unit, tz); p < to; ) {
    out.push(p);
    const next = addPeriods(p, unit, 1, tz);
    if (next <= p) throw new Error(`period arithmetic did not advance after ${p.toISOString()} (${unit} in ${tz})`);
    p = next;
  }
  return out;
}

/**
 * Parse a date given in a plan or on the command line: `YYYY-MM-DD` means local midnight in `tz`;
 * a full ISO 8601 timestamp must carry `Z` or an offset. js-yaml 5 (YAML 1.2 core schema) keeps
 * dates as strings, so this is the one place they become instants.
 */
export function parseDateInZone(value: string | Date, tz = 'UTC'): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new Error('invalid date');
    return value;
  }
  const s = String(value).trim();
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (dateOnly) {
    const [y, mo, d] = [Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3])];
    const check = new Date(Date.UTC(y, mo - 1, d));
    if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) throw new Error(`"${s}" is not a calendar date`);
    return new Date(fromWall(y, mo, d, 0, tz));
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) {
    throw new Error(`"${s}" is not a date (expected YYYY-MM-DD or an ISO 8601 timestamp with Z or an offset)`);
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Error(`"${s}" is not a valid timestamp`);
  return d;
}
