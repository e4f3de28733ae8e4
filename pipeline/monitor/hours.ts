/** UTC hours: the reconciliation's unit. Pure. */

export const HOUR_MS = 3_600_000;

/** Start of the UTC hour containing `t`. */
export const hourStart = (t: Date | number): Date => new Date(Math.floor(+t / HOUR_MS) * HOUR_MS);

/**
 * The hour's key, `YYYY-MM-DDTHH:00:00Z`: what MongoDB's `$dateToString` with HOUR_KEY_FORMAT gives
 * for any instant in that hour, so the store's counts and the ledger's meet on the same key.
 */
export const hourKey = (t: Date | number): string => hourStart(t).toISOString().slice(0, 13) + ':00:00Z';

export const HOUR_KEY_FORMAT = '%Y-%m-%dT%H:00:00Z';
