/**
 * Where a new metering-store member goes: among the VMs the SSH provisioner may use, the one the
 * profiler's utilisation queue ranks first (most free CPU cores, then most free memory) on which the
 * member stays within the caps the paper sets for hosting VMs: at most +15 percentage points of CPU
 * and +10 of memory, and current + extra within the ceiling. Pure: the queue and caps come in.
 */

/** A VM as the profiler's queue reports it (profiler/queues.ts VmHeadroom). */
export interface PlacementCandidate {
  vm: string;
  name: string;
  vcpus: number | null;
  memory_mb: number | null;
  cpu_pct: number;
  memory_pct: number;
}

export interface PlacementCaps {
  cpu_pp: number;
  memory_pp: number;
  ceiling_pct: number;
}

export interface MemberDemand {
  cpuCores: number;
  memoryMiB: number;
}

export type PlacementResult =
  | { ok: true; vm: string; cpu_pct_after: number; memory_pct_after: number; extra_cpu_pp: number; extra_memory_pp: number; reason: string }
  | { ok: false; reason: string };

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Why `c` cannot host the member, or undefined when it can. */
export function misfit(c: PlacementCandidate, d: MemberDemand, caps: PlacementCaps): string | undefined {
  if (!c.vcpus || !c.memory_mb) return 'no flavor (vcpus/memory) known';
  if (!Number.isFinite(c.cpu_pct) || !Number.isFinite(c.memory_pct)) return 'no CPU/memory profile yet';
  const cpuPp = (d.cpuCores / c.vcpus) * 100;
  const memPp = (d.memoryMiB / c.memory_mb) * 100;
  if (cpuPp > caps.cpu_pp) return `+${r1(cpuPp)} pp CPU > cap +${caps.cpu_pp}`;
  if (memPp > caps.memory_pp) return `+${r1(memPp)} pp memory > cap +${caps.memory_pp}`;
  if (c.cpu_pct + cpuPp > caps.ceiling_pct) return `CPU ${r1(c.cpu_pct)}% + ${r1(cpuPp)} pp > ceiling ${caps.ceiling_pct}%`;
  if (c.memory_pct + memPp > caps.ceiling_pct) return `memory ${r1(c.memory_pct)}% + ${r1(memPp)} pp > ceiling ${caps.ceiling_pct}%`;
  return undefined;
}

/**
 * The first VM of `ranked` (queue order) that is allowed (matched by name, then id) and fits;
 * otherwise the reason for every allowed VM. `exclude` (VMs already hosting a member of the same
 * replica set) keeps a shard's members on distinct VMs.
 */
export function placeMember(ranked: readonly PlacementCandidate[], allowed: readonly string[], d: MemberDemand, caps: PlacementCaps, exclude: readonly string[] = []): PlacementResult {
  const allow = new Set(allowed);
  const why: string[] = [];
  const seen = new Set<string>();
  for (const c of ranked) {
    const name = allow.has(c.name) ? c.name : allow.has(c.vm) ? c.vm : undefined;
    if (!name) continue;
    seen.add(name);
    if (exclude.includes(name)) {
      why.push(`${name}: already hosts a member of this replica set`);
      continue;
    }
    const bad = misfit(c, d, caps);
    if (bad) {
      why.push(`${name}: ${bad}`);
      continue;
    }
    const cpuPp = (d.cpuCores / c.vcpus!) * 100;
    const memPp = (d.memoryMiB / c.memory_mb!) * 100;
    return {
      ok: true,
      vm: name,
      extra_cpu_pp: r1(cpuPp),
      extra_memory_pp: r1(memPp),
      cpu_pct_after: r1(c.cpu_pct + cpuPp),
      memory_pct_after: r1(c.memory_pct + memPp),
      reason: `${name}: most free CPU among the allowed VMs that fit; CPU ${r1(c.cpu_pct)}% → ${r1(c.cpu_pct + cpuPp)}% (+${r1(cpuPp)} pp ≤ ${caps.cpu_pp}), memory ${r1(c.memory_pct)}% → ${r1(c.memory_pct + memPp)}% (+${r1(memPp)} pp ≤ ${caps.memory_pp})`,
    };
  }
  for (const a of allowed) if (!seen.has(a)) why.push(`${a}: not profiled (no samples from this VM)`);
  return { ok: false, reason: `no VM can host another member within the caps: ${why.join('; ') || 'no VMs configured'}` };
}
