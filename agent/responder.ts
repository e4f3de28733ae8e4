/**
 * The agent's side of request/reply: subscribed to its own request channel, it answers from the
 * local raw store; it publishes a heartbeat (the resources it holds and their projects) every
 * heartbeat period, and a last one with `leaving` when it stops.
 */
import { Redis } from 'ioredis';
import type { AgentLog } from './log';
import { redisConnectionOptions, type RedisTlsFiles } from '../billing/jobs/connection';
import { metricKey, type Discovery } from './metrics';
import { channels, helloDelayMs, requestMessage, thin, type HeartbeatMessage, type ReplyMessage } from './protocol';
import type { RawStore } from './raw-store';

export interface ResponderOptions {
  redisUrl: string;
  prefix: string;
  host: string;
  instance: string;
  heartbeatS: number;
  store: RawStore;
  discovery: () => Discovery;
  log?: AgentLog;
  /** CA, client certificate and key for a rediss:// queue (the agent's --ca, --cert, --key). */
  tls?: RedisTlsFiles;
}

export function heartbeatOf(d: Discovery, instance: string, intervalS: number): HeartbeatMessage {
  const byResource = new Map<string, string[]>();
  for (const m of d.metrics) {
    const list = byResource.get(m.resource_id) ?? [];
    list.push(m.name);
    byResource.set(m.resource_id, list);
  }
  const project = new Map(d.resources.map((r) => [r.resource_id, r.project_id]));
  return {
    kind: 'heartbeat',
    host: d.host,
    instance,
    interval_s: intervalS,
    facts: { architecture: d.architecture, cpu_model: d.cpu_model, cpu_cores: d.cpu_cores, memory_total_bytes: d.memory_total_bytes },
    resources: [...byResource].map(([id, meters]) => ({ id, project_id: project.get(id) ?? null, meters })),
  };
}

export class Responder {
  private timer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  readonly stats = { requests: 0, replies: 0, bad_requests: 0, heartbeats: 0 };

  private constructor(
    private readonly opts: ResponderOptions,
    private readonly pub: Redis,
    private readonly sub: Redis,
  ) {}

  static async start(opts: ResponderOptions): Promise<Responder> {
    const conn = redisConnectionOptions(opts.redisUrl, opts.tls);
    // reconnects on its own after a Redis outage and re-subscribes (ioredis autoResubscribe)
    const pub = new Redis({ ...conn, lazyConnect: true, maxRetriesPerRequest: 1 });
    const sub = new Redis({ ...conn, lazyConnect: true });
    pub.on('error', () => undefined);
    sub.on('error', () => undefined);
    try {
      await Promise.all([pub.connect(), sub.connect()]);
      const r = new Responder(opts, pub, sub);
      const ch = channels(opts.prefix);
      sub.on('message', (c: string, text: string) => {
        if (c === ch.hello) r.hello();
        else void r.answer(text);
      });
      // a controller that starts asks every agent for a heartbeat, so it knows them at once
      await sub.subscribe(ch.request(opts.host), ch.hello);
      await r.beat();
      r.timer = setInterval(() => void r.beat().catch((err) => opts.log?.warn({ err: (err as Error).message }, 'heartbeat failed')), opts.heartbeatS * 1000);
      r.timer.unref();
      return r;
    } catch (err) {
      // ioredis keeps reconnecting a client whose first connect failed, and a connected one stays
      // open: the caller retries with new clients, so these must go (e.g. Redis down, or NOPERM)
      pub.disconnect();
      sub.disconnect();
      throw err;
    }
  }

  /** A controller started: heartbeat after a short random delay (one pending answer at a time). */
  private hello(): void {
    if (this.helloTimer) return;
    this.helloTimer = setTimeout(() => {
      this.helloTimer = undefined;
      void this.beat().catch((err) => this.opts.log?.warn({ err: (err as Error).message }, 'heartbeat failed'));
    }, helloDelayMs(this.opts.heartbeatS));
    this.helloTimer.unref();
  }

  async beat(leaving = false): Promise<void> {
    const msg = heartbeatOf(this.opts.discovery(), this.opts.instance, this.opts.heartbeatS);
    await this.pub.publish(channels(this.opts.prefix).heartbeat, JSON.stringify(leaving ? { ...msg, resources: [], leaving: true } : msg));
    this.stats.heartbeats++;
  }

  private async answer(text: string): Promise<void> {
    let parsed;
    try {
      parsed = requestMessage.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.stats.bad_requests++;
      return;
    }
    const req = parsed.data;
    this.stats.requests++;
    let reply: ReplyMessage;
    try {
      const points = this.opts.store.points(metricKey(req.meter, req.resource_id), req.from, req.to).map((p) => [p.t, p.v] as [number, number]);
      reply = { id: req.id, host: this.opts.host, ok: true, points: thin(points, req.max_points), total: points.length };
    } catch (err) {
      reply = { id: req.id, host: this.opts.host, ok: false, error: (err as Error).message };
    }
    await this.pub.publish(req.reply_to, JSON.stringify(reply)).catch(() => undefined);
    this.stats.replies++;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.helloTimer) clearTimeout(this.helloTimer);
    await this.beat(true).catch(() => undefined);
    this.sub.disconnect();
    await this.pub.quit().catch(() => this.pub.disconnect());
  }
}
