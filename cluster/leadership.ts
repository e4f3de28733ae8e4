import type { AppServices } from '../controller/app';
import type { FenceToken } from './fence';
import type { SingletonRole } from './config';

/**
 * What a singleton job asks before it acts: may this controller run it now, and (at the point of
 * action) is its fencing token still the newest. Modules get theirs with `leadershipOf(svc, role)`.
 */
export interface Leadership {
  readonly role: SingletonRole;
  /** False for a controller that is not part of a cluster (it leads everything, unfenced). */
  readonly clustered: boolean;
  /** Whether this controller holds the role's lease and it has not lapsed by its own clock. */
  leading(): boolean;
  /** The controller id that holds the lease, as last read (undefined: unknown or free). */
  leader(): string | undefined;
  /** The fencing token of this controller's lease (undefined when not leading or not clustered). */
  token(): number | undefined;
  /**
   * The check at the point of action, right before the effect: throws FencedOutError when the lease
   * has lapsed or a newer leader has acted; returns the token the effect's own write should carry
   * (undefined when not clustered: nothing to fence).
   */
  fence(): Promise<FenceToken | undefined>;
  /** Called when this controller gains (true) or loses (false) the role. */
  onChange(fn: (leading: boolean) => void): void;
}

/** A controller on its own: it runs every singleton, with nothing to fence. */
export function soloLeadership(role: SingletonRole): Leadership {
  return {
    role,
    clustered: false,
    leading: () => true,
    leader: () => undefined,
    token: () => undefined,
    fence: async () => undefined,
    onChange: () => undefined,
  };
}

/** The elector of an application, by its services object (set by the cluster module). */
const electors = new WeakMap<AppServices, { leadership(role: SingletonRole): Leadership }>();

export function registerElector(svc: AppServices, e: { leadership(role: SingletonRole): Leadership }): void {
  electors.set(svc, e);
}

export function unregisterElector(svc: AppServices): void {
  electors.delete(svc);
}

/**
 * The leadership of `role` in the application `svc` belongs to: the cluster's when the cluster
 * module runs with `cluster.enabled`, else a solo one (this controller runs the job, unfenced).
 */
export function leadershipOf(svc: AppServices, role: SingletonRole): Leadership {
  return electors.get(svc)?.leadership(role) ?? soloLeadership(role);
}
