import type { Sample } from '../sample';

/** What a replay reports (`--json`). Kafka cannot tell what was stored: those fields are null there. */
export interface ReplayTotals {
  /** Samples sent (each counted once, however often it had to be resent). */
  sent: number;
  /** Samples the receiver took in (HTTP: from its answers). */
  accepted: number | null;
  /** Of those, newly stored. */
  stored: number | null;
  /** Of those, already stored earlier (a replay of the same slice): not stored again. */
  duplicates: number | null;
  /** Samples the receiver refused (dead-lettered with a reason). */
  rejected: number | null;
  /** Resends after 429/503 (Retry-After honoured) or a failed connection. */
  retries: number;
}

/** Where batches of replayed samples go. `send` resolves once the batch is handed off (HTTP: answered). */
export interface ReplaySink {
  readonly totals: ReplayTotals;
  send(samples: readonly Sample[]): Promise<void>;
  /** Wait for everything in flight and release connections. */
  close(): Promise<void>;
}

export class ReplayError extends Error {}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
