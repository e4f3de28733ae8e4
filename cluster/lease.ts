/**
 * The lease state machine of one singleton role, pure (no I/O, no wall clock): given the lease record
 * as the store holds it and this controller's monotonic clock, what to do next, and until when this
 * controller may act.
 *
 * Timing, without comparing clocks across hosts (the scheme of Kubernetes' leader election):
 * - the holder may act until `sentAt + ttl - guard`, where `sentAt` is its own monotonic time just
 *   BEFORE it sent the acquire/renew that succeeded (the write happened after that instant);
 * - a contender takes the lease over only after it has seen the same record version for `ttl` on its
 *   own monotonic clock (it first saw that version after the holder wrote it).
 * So the holder stops acting at least `guard` before any contender can take over, as long as the two
 * clocks run at about the same rate (the guard covers drift); a holder that cannot renew (store
 * unreachable, process paused) stops acting on its own. Fencing tokens (cluster/fence.ts) cover what
 * timing cannot: a process paused between its check and its action.
 */

/** A lease as stored (one document per role in `cluster_leases`). */
export interface LeaseRecord {
  role: string;
  /** The controller id holding it, or null once released. */
  holder: string | null;
  /** The holding process (a random id per start): a restarted controller is another instance. */
  instance: string | null;
  /** Fencing token: grows by one with every change of holder, never reused. */
  token: number;
  /** Grows with every renewal: a contender sees the lease is alive when this changes. */
  version: number;
  /** The TTL the holder promised to stop acting within. */
  ttl_ms: number;
}

export interface LeaseTiming {
  ttlMs: number;
  guardMs: number;
}

/** This controller's hold on a role. */
export interface Held {
  token: number;
  version: number;
  /** Monotonic time until which this controller may act. */
  validUntil: number;
}

export type LeasePlan =
  | { kind: 'create' }
  | { kind: 'renew'; token: number; version: number }
  | { kind: 'takeover'; expect: { version: number; instance: string | null }; reason: 'released' | 'expired' }
  | { kind: 'wait'; holder: string; until?: number };

export class LeaseCore {
  private held?: Held;
  /** The foreign record last seen and when this controller first saw that version. */
  private seen?: { instance: string | null; version: number; at: number };

  constructor(
    readonly role: string,
    readonly instance: string,
    private readonly timing: LeaseTiming,
  ) {}

  /** Whether this controller may act for the role at monotonic time `now`. */
  leading(now: number): boolean {
    return this.held !== undefined && now < this.held.validUntil;
  }

  /** The current hold (also when it has lapsed locally but was not yet taken over). */
  get hold(): Held | undefined {
    return this.held;
  }

  /** What to do about the lease `record` (null: no record yet), read at monotonic time `now`. */
  plan(record: LeaseRecord | null, now: number): LeasePlan {
    if (!record) return { kind: 'create' };
    if (record.instance === this.instance && this.held && record.token === this.held.token) {
      return { kind: 'renew', token: record.token, version: record.version };
    }
    // someone else holds it (or we lost it): forget any hold of ours
    this.held = undefined;
    if (record.holder === null) return { kind: 'takeover', expect: { version: record.version, instance: null }, reason: 'released' };
    if (!this.seen || this.seen.instance !== record.instance || this.seen.version !== record.version) {
      this.seen = { instance: record.instance, version: record.version, at: now };
    }
    const ttl = Math.max(record.ttl_ms, this.timing.ttlMs);
    const lapses = this.seen.at + ttl;
    if (now >= lapses) return { kind: 'takeover', expect: { version: record.version, instance: record.instance }, reason: 'expired' };
    return { kind: 'wait', holder: record.holder, until: lapses };
  }

  /** The acquire or renewal sent at monotonic `sentAt` succeeded with this token and version. */
  granted(token: number, version: number, sentAt: number): Held {
    this.held = { token, version, validUntil: sentAt + this.timing.ttlMs - this.timing.guardMs };
    this.seen = undefined;
    return this.held;
  }

  /** The renewal or takeover found the record changed: someone else holds it now. */
  lost(): void {
    this.held = undefined;
  }
}

/**
 * The longest a role stays without an acting leader after its leader dies without releasing (by
 * construction of the timing above): the contender sees the last renewal at most one interval after
 * it was written, waits `ttl`, and looks again at most one interval later.
 */
export function handoverBoundMs(c: { leaseTtlMs: number; renewIntervalMs: number }): number {
  return c.leaseTtlMs + 2 * c.renewIntervalMs;
}
