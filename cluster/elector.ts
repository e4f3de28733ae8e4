import { performance } from 'node:perf_hooks';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { ClusterConfig, SingletonRole } from './config';
import { FenceStore, FencedOutError, type FenceToken } from './fence';
import { LeaseCore, type LeaseRecord } from './lease';
import { LeaseStore } from './lease-store';
import type { Leadership } from './leadership';

export interface ElectorDeps {
  db: Db;
  config: ClusterConfig;
  /** This controller's id (cluster.id or hostname-pid). */
  id: string;
  /** This process: a random id per start. */
  instance: string;
  roles: readonly SingletonRole[];
  log: Logger;
  /** Monotonic clock in ms (default performance.now, which keeps counting while the process is stopped). */
  now?: () => number;
}

/**
 * Leader election for the singleton roles: one loop that, every `renewIntervalMs`, reads the leases
 * (one query), renews the ones this controller holds and takes over the ones that are free or have
 * lapsed (LeaseCore decides; LeaseStore writes conditionally). A new holder advances the role's fence
 * at once. A store that does not answer makes renewals fail: the hold lapses by the local clock and
 * `leading()` turns false before any other controller can take over.
 */
export class Elector {
  readonly fences: FenceStore;
  readonly leases: LeaseStore;
  private readonly cores = new Map<SingletonRole, LeaseCore>();
  private readonly holders = new Map<SingletonRole, string | undefined>();
  private readonly listeners = new Map<SingletonRole, Array<(leading: boolean) => void>>();
  private readonly reported = new Map<SingletonRole, boolean>();
  private readonly views = new Map<SingletonRole, Leadership>();
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private closed = false;
  /** Counters for /metrics. */
  readonly stats = { ticks: 0, errors: 0, acquired: 0, lost: 0 };
  private lastError?: string;

  constructor(private readonly d: ElectorDeps) {
    this.fences = new FenceStore(d.db);
    this.leases = new LeaseStore(d.db, Math.max(100, d.config.renewIntervalMs));
    for (const role of d.roles) this.cores.set(role, new LeaseCore(role, d.instance, { ttlMs: d.config.leaseTtlMs, guardMs: d.config.guardMs }));
  }

  private now(): number {
    return (this.d.now ?? (() => performance.now()))();
  }

  get id(): string {
    return this.d.id;
  }

  /** Start electing: a first round now, then one every renewIntervalMs. */
  start(): void {
    const loop = () => {
      if (this.closed) return;
      this.inFlight = this.tick().finally(() => {
        this.inFlight = undefined;
        if (this.closed) return;
        // a little jitter so controllers started together do not write in lockstep
        this.timer = setTimeout(loop, this.d.config.renewIntervalMs * (0.9 + Math.random() * 0.1));
        this.timer.unref();
      });
    };
    loop();
  }

  /** One round over every role. Never throws: a failing store is logged (once per kind) and counted. */
  async tick(): Promise<void> {
    this.stats.ticks++;
    let records: Map<string, LeaseRecord>;
    try {
      records = await this.leases.read();
    } catch (err) {
      this.failed(err as Error);
      this.notify();
      return;
    }
    for (const [role, core] of this.cores) {
      const record = records.get(role) ?? null;
      this.holders.set(role, record?.holder ?? undefined);
      try {
        await this.step(role, core, record);
      } catch (err) {
        this.failed(err as Error);
      }
    }
    if (this.lastError) {
      this.d.log.info('cluster: the lease store answers again');
      this.lastError = undefined;
    }
    this.notify();
  }

  private async step(role: SingletonRole, core: LeaseCore, record: LeaseRecord | null): Promise<void> {
    const { id, instance, config } = this.d;
    const plan = core.plan(record, this.now());
    if (plan.kind === 'wait') return;
    const sentAt = this.now();
    if (plan.kind === 'renew') {
      const r = await this.leases.renew(role, instance, plan.token, config.leaseTtlMs);
      if (r) core.granted(r.token, r.version, sentAt);
      else {
        core.lost();
        this.stats.lost++;
        this.d.log.warn({ role, token: plan.token }, `cluster: lost the ${role} lease (taken over)`);
      }
      return;
    }
    const r = plan.kind === 'create' ? await this.leases.create(role, id, instance, config.leaseTtlMs) : await this.leases.takeover(role, plan.expect, id, instance, config.leaseTtlMs);
    if (!r) return; // another controller was faster
    core.granted(r.token, r.version, sentAt);
    this.holders.set(role, id);
    this.stats.acquired++;
    this.d.log.info({ role, token: r.token, ...(plan.kind === 'takeover' ? { from: plan.reason } : {}) }, `cluster: leading ${role} (fencing token ${r.token})`);
    // from now on a paused old leader's next action is refused, whatever its own clock says
    // (bounded so one slow store answer does not hold up the other roles' renewals; if it fails, the
    // fence() before this leader's first action advances the fence and raises the documents' tokens)
    await this.fences
      .advance({ role, token: r.token }, id, { timeoutMs: config.renewIntervalMs })
      .catch((err: Error) => this.d.log.error({ role, err: err.message }, 'cluster: could not advance the fence (or raise the token of the role\'s fenced documents) on taking the lease; the check before the first action does it'));
  }

  private failed(err: Error): void {
    this.stats.errors++;
    if (err.message !== this.lastError) this.d.log.warn({ err: err.message }, 'cluster: lease store unreachable or refusing; leases held lapse on their own');
    this.lastError = err.message;
  }

  /** Tell listeners about roles gained or lost since the last round (lapsed holds count as lost). */
  private notify(): void {
    for (const [role, core] of this.cores) {
      const now = core.leading(this.now());
      if ((this.reported.get(role) ?? false) === now) continue;
      this.reported.set(role, now);
      for (const fn of this.listeners.get(role) ?? []) {
        try {
          fn(now);
        } catch (err) {
          this.d.log.warn({ role, err: (err as Error).message }, 'cluster: leadership listener failed');
        }
      }
    }
  }

  leading(role: SingletonRole): boolean {
    return this.cores.get(role)?.leading(this.now()) ?? false;
  }

  /** The role's leadership as modules see it. */
  leadership(role: SingletonRole): Leadership {
    let v = this.views.get(role);
    if (v) return v;
    const core = this.cores.get(role);
    if (!core) throw new Error(`cluster: no lease for role ${role}`);
    v = {
      role,
      clustered: true,
      leading: () => core.leading(this.now()),
      leader: () => (core.leading(this.now()) ? this.d.id : this.holders.get(role)),
      token: () => (core.leading(this.now()) ? core.hold?.token : undefined),
      fence: (): Promise<FenceToken> => this.fence(role, core),
      onChange: (fn) => {
        const list = this.listeners.get(role) ?? [];
        list.push(fn);
        this.listeners.set(role, list);
      },
    };
    this.views.set(role, v);
    return v;
  }

  /**
   * The check at the point of action (Leadership.fence). Before and after the fence write this
   * controller must still hold the lease by its own clock with at least `guardMs` of it left, so the
   * action that follows has that long before the hold ends (and twice that before another controller
   * may take over). The write itself is bounded by the time the hold has for it: a controller paused
   * or cut off during the write finds its hold too short when it resumes and refuses (FencedOutError).
   */
  private async fence(role: SingletonRole, core: LeaseCore): Promise<FenceToken> {
    const margin = this.d.config.guardMs;
    const before = this.now();
    const hold = core.hold;
    if (!hold || !core.leading(before)) throw new FencedOutError(role, hold?.token, `this controller (${this.d.id}) does not hold the lease${hold ? ' any more (it lapsed before it could be renewed)' : ''}`);
    const budget = hold.validUntil - before - margin;
    if (budget <= 0) throw new FencedOutError(role, hold.token, `this controller (${this.d.id}) holds the lease for only ${Math.round(hold.validUntil - before)} ms more, less than the ${margin} ms (cluster.guardMs) an action needs; refused until the lease is renewed`);
    const fence = { role, token: hold.token };
    await this.fences.advance(fence, this.d.id, { timeoutMs: budget });
    // the write took time (or this process was paused meanwhile): the hold must still stand, with the margin left
    const after = this.now();
    const now = core.hold;
    if (!now || now.token !== hold.token || !core.leading(after)) throw new FencedOutError(role, hold.token, `this controller (${this.d.id}) lost the lease while the fence was being written (${Math.round(after - before)} ms); action refused`);
    if (now.validUntil - after < margin) throw new FencedOutError(role, hold.token, `after the fence write (${Math.round(after - before)} ms) this controller (${this.d.id}) holds the lease for only ${Math.round(now.validUntil - after)} ms more, less than the ${margin} ms (cluster.guardMs) an action needs; action refused`);
    return fence;
  }

  /** Per role: leading, token, how long the hold stays valid by the local clock. */
  status(): Array<{ role: SingletonRole; leading: boolean; token: number | null; valid_for_ms: number | null }> {
    const now = this.now();
    return [...this.cores].map(([role, core]) => {
      const leading = core.leading(now);
      return { role, leading, token: leading ? core.hold!.token : null, valid_for_ms: leading ? Math.round(core.hold!.validUntil - now) : null };
    });
  }

  /** Stop, and release every lease held so another controller takes over without waiting for it to lapse. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.inFlight?.catch(() => undefined);
    for (const [role, core] of this.cores) {
      const hold = core.hold;
      if (!hold) continue;
      core.lost();
      await this.leases.release(role, this.d.instance, hold.token).then(
        (ok) => ok && this.d.log.info({ role, token: hold.token }, `cluster: released the ${role} lease`),
        (err: Error) => this.d.log.warn({ role, err: err.message }, `cluster: could not release the ${role} lease; it lapses on its own`),
      );
    }
    this.notify();
  }
}
