import { randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { addPeriods, periodStart, type Granularity } from './periods';

/**
 * Atomic replacement of mediated usage and rated lines, as seen by any reader, on any MongoDB (no
 * transactions needed):
 *
 * 1. a run writes its results under a fresh run id (old results stay readable);
 * 2. it switches the periods it covers to the new run with ONE single-document write per pointer
 *    document (`<kind>_runs`: one document per kind, granularity, zone and calendar month of the zone,
 *    holding `periods.p<epoch ms> → {run, started_at}`). A billing period is at most a month, so
 *    every billing period's pointers live in one document and switch together;
 * 3. it removes the superseded runs' results.
 *
 * Readers take the pointer documents, read the current runs' results, and take the pointers again: if
 * a pointer moved meanwhile (a switch, so maybe a removal under the reader's feet) they read again.
 * A run that crashes before step 2 leaves the previous results current; its orphans are removed by the
 * next run of the range.
 */
/** The collection the runs' documents live in (`usage`, `rated`, or another `mediation.into`/`rating.into`). */
export type RunKind = string;

export interface RunPointer {
  run: string;
  /** When the run started reading its input: samples stored after this may be missing from it. */
  started_at: Date;
}

interface PointerDoc {
  _id: string;
  kind: RunKind;
  granularity: Granularity;
  timezone: string;
  month: Date;
  version: number;
  periods: Record<string, RunPointer>;
}

export interface RunScope {
  kind: RunKind;
  granularity: Granularity;
  timezone: string;
}

export const newRunId = (): string => `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;

const pointerId = (s: RunScope, month: Date) => `${s.kind}|${s.granularity}|${s.timezone}|${month.toISOString()}`;
const periodKey = (p: Date) => `p${p.getTime()}`;
const pointers = (db: Db) => db.collection<PointerDoc>('runs');

/** The calendar months (in the zone) a range of periods touches: one pointer document each. */
export function monthsOf(from: Date, to: Date, timezone: string): Date[] {
  const out: Date[] = [];
  for (let m = periodStart(from, 'month', timezone); m < to; m = addPeriods(m, 'month', 1, timezone)) out.push(m);
  return out;
}

/** The period starts in [from, to). */
export function periodsOf(from: Date, to: Date, granularity: Granularity, timezone: string): Date[] {
  const out: Date[] = [];
  for (let p = from; p < to; p = addPeriods(p, granularity, 1, timezone)) out.push(p);
  return out;
}

/** Make `run` current for every period of [from, to): one atomic single-document write per month touched. */
export async function switchRun(db: Db, s: RunScope, from: Date, to: Date, pointer: RunPointer): Promise<void> {
  const byMonth = new Map<number, Date[]>();
  for (const p of periodsOf(from, to, s.granularity, s.timezone)) {
    const m = periodStart(p, 'month', s.timezone);
    byMonth.set(m.getTime(), [...(byMonth.get(m.getTime()) ?? []), p]);
  }
  for (const [ms, periods] of byMonth) {
    const month = new Date(ms);
    const set: Record<string, unknown> = { kind: s.kind, granularity: s.granularity, timezone: s.timezone, month };
    for (const p of periods) set[`periods.${periodKey(p)}`] = pointer;
    await pointers(db).updateOne({ _id: pointerId(s, month) }, { $set: set, $inc: { version: 1 } }, { upsert: true });
  }
}

export interface RunSnapshot {
  /** Current run per period start (epoch ms) within the range. */
  current: Map<number, RunPointer>;
  versions: Map<string, number>;
}

/** The current runs of the periods in [from, to) (every period of the scope when from/to are absent). */
export async function currentRuns(db: Db, s: RunScope, from?: Date, to?: Date): Promise<RunSnapshot> {
  const filter = from && to ? { _id: { $in: monthsOf(from, to, s.timezone).map((m) => pointerId(s, m)) } } : { kind: s.kind, granularity: s.granularity, timezone: s.timezone };
  const docs = await pointers(db).find(filter).toArray();
  const current = new Map<number, RunPointer>();
  const versions = new Map<string, number>();
  for (const d of docs) {
    versions.set(d._id, d.version);
    for (const [k, v] of Object.entries(d.periods ?? {})) {
      const ms = Number(k.slice(1));
      if ((!from || ms >= from.getTime()) && (!to || ms < to.getTime())) current.set(ms, v);
    }
  }
  return { current, versions };
}

/**
 * Read something made of the current runs consistently: `read` gets the current run ids; if any
 * pointer document moved while it read, it is called again (at most `attempts` times).
 */
export async function readCurrent<T>(db: Db, s: RunScope, from: Date | undefined, to: Date | undefined, read: (runs: string[], snap: RunSnapshot) => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 0; ; i++) {
    const snap = await currentRuns(db, s, from, to);
    const result = await read([...new Set([...snap.current.values()].map((p) => p.run))], snap);
    const again = await currentRuns(db, s, from, to);
    const same = again.versions.size === snap.versions.size && [...again.versions].every(([id, v]) => snap.versions.get(id) === v);
    if (same) return result;
    if (i + 1 >= attempts) throw new Error(`${s.kind} of ${from?.toISOString() ?? '…'} → ${to?.toISOString() ?? '…'} kept changing while being read (${attempts} attempts)`);
    await new Promise((r) => setTimeout(r, 20 * (i + 1)));
  }
}
