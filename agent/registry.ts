/**
 * The controller's registry of agents (pure): which host holds which resource, each resource's
 * project, and when each host was last heard from. Fed by heartbeats; a host silent for
 * `missed` heartbeat periods is no longer routed to (its resources answer 504 naming it until it
 * is forgotten after `forgetAfterMs`; unknown resources answer 404).
 */
import type { HeartbeatMessage, ResourceEntry } from './protocol';

export interface HostEntry {
  host: string;
  instance: string;
  intervalMs: number;
  lastSeen: number;
  registeredAt: number;
  facts: HeartbeatMessage['facts'];
  resources: Map<string, ResourceEntry>;
}

export interface ResourceLocation {
  host: string;
  project_id: string | null;
  meters: string[];
}

export class AgentRegistry {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly byResource = new Map<string, HostEntry>();

  constructor(
    private readonly missed: number,
    /** Drop a silent host (and its resources) after this long (default 1 day). */
    private readonly forgetAfterMs = 86_400_000,
  ) {}

  get size(): number {
    return this.hosts.size;
  }

  get resourceCount(): number {
    return this.byResource.size;
  }

  /** Apply a heartbeat (the first one registers the host). */
  heartbeat(msg: HeartbeatMessage, now: number): void {
    if (msg.leaving) {
      this.remove(msg.host);
      return;
    }
    const prev = this.hosts.get(msg.host);
    const entry: HostEntry = {
      host: msg.host,
      instance: msg.instance,
      intervalMs: msg.interval_s * 1000,
      lastSeen: now,
      registeredAt: prev && prev.instance === msg.instance ? prev.registeredAt : now,
      facts: msg.facts ?? prev?.facts,
      resources: new Map(msg.resources.map((r) => [r.id, r])),
    };
    if (prev) for (const id of prev.resources.keys()) if (!entry.resources.has(id) && this.byResource.get(id) === prev) this.byResource.delete(id);
    this.hosts.set(msg.host, entry);
    for (const id of entry.resources.keys()) this.byResource.set(id, entry);
  }

  remove(host: string): void {
    const e = this.hosts.get(host);
    if (!e) return;
    for (const id of e.resources.keys()) if (this.byResource.get(id) === e) this.byResource.delete(id);
    this.hosts.delete(host);
  }

  /** Is the host's last heartbeat recent enough to route to it? */
  alive(host: string, now: number): boolean {
    const e = this.hosts.get(host);
    return !!e && now - e.lastSeen <= e.intervalMs * this.missed;
  }

  locate(resourceId: string): ResourceLocation | undefined {
    const e = this.byResource.get(resourceId);
    const r = e?.resources.get(resourceId);
    return e && r ? { host: e.host, project_id: r.project_id, meters: r.meters } : undefined;
  }

  host(name: string): HostEntry | undefined {
    return this.hosts.get(name);
  }

  list(): HostEntry[] {
    return [...this.hosts.values()].sort((a, b) => a.host.localeCompare(b.host));
  }

  /** Forget hosts silent for longer than forgetAfterMs. Returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const e of [...this.hosts.values()]) {
      if (now - e.lastSeen > this.forgetAfterMs) {
        this.remove(e.host);
        n++;
      }
    }
    return n;
  }
}
