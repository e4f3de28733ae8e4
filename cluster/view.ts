import type { LeaseDoc } from './lease-store';
import type { MemberView } from './membership';

export interface SingletonView {
  role: string;
  /** The controller holding the lease (null: free, released by a controller that shut down). */
  leader: string | null;
  leader_address: string | null;
  /** The lease's fencing token (the next holder's will be higher). */
  token: number;
  /** The highest token that has acted (the fence); equal to or below `token`. */
  fence_token: number | null;
  renewed_at: string | null;
  /** When the lease lapses unless renewed: renewed_at + ttl, by the store's clock. */
  expires_at: string | null;
  ttl_ms: number;
}

export interface ClusterControllersView {
  /** The controller that answered. */
  controller: string;
  /** The store's time when it answered (every time shown is the store's). */
  now: string;
  controllers: Array<MemberView & { leads: string[] }>;
  singletons: SingletonView[];
  /** The longest a singleton stays without a leader after its leader dies (leaseTtlMs + 2 × renewIntervalMs). */
  handover_bound_ms: number;
}

/** Assemble `GET /v1/cluster/controllers` from the members, the leases and the fences. Pure. */
export function controllersView(
  self: string,
  now: Date,
  members: readonly MemberView[],
  leases: readonly LeaseDoc[],
  fences: ReadonlyArray<{ _id: string; token: number }>,
  handoverBoundMs: number,
): ClusterControllersView {
  const address = new Map(members.map((m) => [m.id, m.address]));
  const fenceOf = new Map(fences.map((f) => [f._id, f.token]));
  const singletons: SingletonView[] = leases.map((l) => ({
    role: l._id,
    leader: l.holder,
    leader_address: l.holder ? (address.get(l.holder) ?? null) : null,
    token: l.token,
    fence_token: fenceOf.get(l._id) ?? null,
    renewed_at: l.renewed_at?.toISOString() ?? null,
    expires_at: l.holder && l.renewed_at ? new Date(l.renewed_at.getTime() + l.ttl_ms).toISOString() : null,
    ttl_ms: l.ttl_ms,
  }));
  return {
    controller: self,
    now: now.toISOString(),
    controllers: members.map((m) => ({ ...m, leads: singletons.filter((s) => s.leader === m.id).map((s) => s.role) })),
    singletons,
    handover_bound_ms: handoverBoundMs,
  };
}
