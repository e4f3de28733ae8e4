/**
 * `metering agent run`: one process per host. Every interval it polls the host (HostProbe), appends
 * the poll to the local raw store, and feeds the window aggregator; every closed window becomes one
 * Ceilometer sample per metric, spooled to disk and then sent to the destination. With a controller
 * it registers over HTTP and then heartbeats and answers raw-data requests through Redis.
 *
 * Crash and restart: `state.json` records the end of the last window put in the spool; a restarted
 * agent replays the raw polls after it from its local store, so windows that were open (or that
 * closed while it was down) are computed exactly as if it had never stopped. A window computed
 * twice has the same message ids, so the store keeps it once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentLog } from './log';
import type { Sample } from '../pipeline/sample';
import type { AgentHostConfig } from './config';
import type { HostProbe } from './host/probe';
import { metricKey, type Discovery, type MetricDef, type Poll, type ResourceInfo } from './metrics';
import type { Publisher } from './publisher';
import { RawStore } from './raw-store';
import type { Responder } from './responder';
import type { ClientTlsFiles, FetchLike } from './tls-client';
import { windowSample } from './samples';
import { Spool } from './spool';
import { WindowAggregator } from './window';

export interface AgentOptions {
  probe: HostProbe;
  config: AgentHostConfig;
  intervalMs: number;
  windowMs: number;
  publisher?: Publisher;
  /**
   * Register with this controller (base URL) using `token` (or the client certificate in `fetch`),
   * then heartbeat and answer through Redis. `fetch` carries `--ca`/`--cert`/`--key` for an https://
   * controller; `tls` (the same files) is used for a rediss:// request queue handed out at registration.
   */
  controller?: { url: string; token?: string; fetch?: FetchLike; tls?: ClientTlsFiles };
  /** Redis for request/reply when there is no controller to hand it out (tests, the scale benchmark). */
  queue?: { redisUrl: string; prefix: string };
  /** pino, or any logger with info/warn (the agent CLI uses a small stderr one to keep its RSS low). */
  log: AgentLog;
  /** Told about every batch of window samples put in the spool. */
  onWindow?: (samples: Sample[]) => void;
  /** Told about every poll. */
  onPoll?: (poll: Poll) => void;
}

export interface AgentStatus {
  host: string;
  polls: number;
  windows: number;
  samples_spooled: number;
  samples_sent: number;
  /** Refused by the destination as invalid (e.g. a signature made with another secret). */
  samples_rejected: number;
  spool_batches: number;
  spool_bytes: number;
  spool_dropped_samples: number;
  raw_bytes: number;
  raw_segments: number;
  registered: boolean;
  last_error: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AgentRuntime {
  readonly instance = randomBytes(6).toString('hex');
  readonly store: RawStore;
  readonly spool: Spool;
  private readonly aggregator: WindowAggregator;
  private discovery!: Discovery;
  private defs = new Map<string, MetricDef>();
  private resources = new Map<string, ResourceInfo>();
  private readonly stateFile: string;
  private emittedThrough: number | undefined;
  private timers: NodeJS.Timeout[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Set first by stop(): no poll is taken (or kept) after it, while the spool may still drain. */
  private pollingStopped = false;
  private polling = false;
  private draining: Promise<void> | undefined;
  private responder: Responder | undefined;
  private registering: Promise<void> | undefined;
  private counters = { polls: 0, windows: 0, spooled: 0, sent: 0, rejected: 0 };
  private lastError: string | null = null;

  constructor(private readonly opts: AgentOptions) {
    const dir = opts.config.data_dir;
    mkdirSync(dir, { recursive: true });
    const c = opts.config;
    this.store = new RawStore({ dir: path.join(dir, 'raw'), retentionMs: c.raw_retention_s * 1000, maxBytes: c.raw_max_bytes, segmentBytes: c.raw_segment_bytes, segmentMs: c.raw_segment_s * 1000, fsyncMs: c.fsync_s * 1000 });
    this.spool = new Spool(path.join(dir, 'spool'), c.spool_max_bytes, (b, s) => opts.log.warn({ batches: b, samples: s }, `spool full (agent.host.spool_max_bytes ${c.spool_max_bytes}): dropped the ${b} oldest batch(es), ${s} window samples; their raw polls stay in the local store`));
    this.aggregator = new WindowAggregator(opts.windowMs);
    this.stateFile = path.join(dir, 'state.json');
    if (existsSync(this.stateFile)) {
      try {
        const s = JSON.parse(readFileSync(this.stateFile, 'utf8')) as { emitted_through?: number; window_ms?: number };
        // a different window length starts afresh: old boundaries do not line up with the new ones
        if (s.window_ms === opts.windowMs && typeof s.emitted_through === 'number') this.emittedThrough = s.emitted_through;
      } catch {
        opts.log.warn({ file: this.stateFile }, 'agent state unreadable; windows start afresh');
      }
    }
  }

  get host(): string {
    return this.opts.probe.host;
  }

  status(): AgentStatus {
    return {
      host: this.host,
      polls: this.counters.polls,
      windows: this.counters.windows,
      samples_spooled: this.counters.spooled,
      samples_sent: this.counters.sent,
      samples_rejected: this.counters.rejected,
      spool_batches: this.spool.batches,
      spool_bytes: this.spool.bytes,
      spool_dropped_samples: this.spool.droppedSamples,
      raw_bytes: this.store.bytes,
      raw_segments: this.store.segmentCount,
      registered: this.responder !== undefined,
      last_error: this.lastError,
    };
  }

  currentDiscovery(): Discovery {
    return this.discovery;
  }

  private setDiscovery(d: Discovery): void {
    this.discovery = d;
    for (const m of d.metrics) this.defs.set(metricKey(m.name, m.resource_id), m);
    for (const r of d.resources) this.resources.set(r.resource_id, r);
  }

  async start(): Promise<void> {
    this.setDiscovery(await this.opts.probe.discover());
    this.recover(Date.now());
    this.kickDrain();
    this.schedulePoll();
    const rediscover = setInterval(() => {
      this.opts.probe.discover().then((d) => this.setDiscovery(d), (err) => this.opts.log.warn({ err: (err as Error).message }, 'rediscovery failed'));
    }, this.opts.config.rediscover_s * 1000);
    this.timers.push(rediscover);
    if (this.opts.controller) this.registering = this.registerLoop();
    else if (this.opts.queue) await this.connectQueue(this.opts.queue.redisUrl, this.opts.queue.prefix, this.opts.config.heartbeat_s);
  }

  /** Windows after the last one spooled, recomputed from the raw polls kept on disk. */
  private recover(now: number): void {
    if (this.emittedThrough === undefined) return;
    let replayed = 0;
    for (const poll of this.store.polls(this.emittedThrough, now + 1)) {
      this.emit(this.aggregator.add(poll));
      replayed++;
    }
    this.emit(this.aggregator.closeUntil(now));
    if (replayed) this.opts.log.info({ polls: replayed }, `replayed ${replayed} raw polls from the local store after a restart`);
  }

  private schedulePoll(): void {
    if (this.pollingStopped) return;
    const iv = this.opts.intervalMs;
    const now = Date.now();
    const next = Math.floor(now / iv) * iv + iv;
    const boundary = this.aggregator.windowOf(now) + this.opts.windowMs;
    this.pollTimer = setTimeout(() => {
      this.emit(this.aggregator.closeUntil(Date.now()));
      if (Date.now() >= next - 5) void this.pollOnce();
      this.schedulePoll();
    }, Math.max(0, Math.min(next, boundary) - now));
  }

  /** One poll now: raw store, aggregator, maybe closed windows. */
  async pollOnce(): Promise<void> {
    if (this.polling || this.pollingStopped) return; // a slow poll (virsh) is not overlapped by the next
    this.polling = true;
    try {
      let t = Date.now();
      if (t <= this.store.newest) t = this.store.newest + 1;
      const poll = await this.opts.probe.poll(t);
      if (this.pollingStopped) return;
      this.store.append(poll, this.defs.keys());
      this.counters.polls++;
      this.opts.onPoll?.(poll);
      this.emit(this.aggregator.add(poll));
    } catch (err) {
      this.lastError = `poll: ${(err as Error).message}`;
      this.opts.log.warn({ err: (err as Error).message }, 'poll failed');
    } finally {
      this.polling = false;
    }
  }

  private emit(closed: ReturnType<WindowAggregator['add']>): void {
    if (closed.length === 0) return;
    const samples: Sample[] = [];
    for (const w of closed) {
      const def = this.defs.get(w.key);
      if (!def) continue; // a metric no longer discovered (its raw polls stay in the store)
      samples.push(windowSample(w, def, this.resources.get(def.resource_id), this.host, this.opts.config.source));
    }
    const end = closed[0]!.end;
    if (samples.length > 0) {
      this.spool.append(samples);
      this.counters.spooled += samples.length;
      this.counters.windows++;
      this.opts.onWindow?.(samples);
    }
    this.emittedThrough = end;
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ emitted_through: end, window_ms: this.opts.windowMs }));
    renameSync(tmp, this.stateFile);
    this.kickDrain();
  }

  private kickDrain(): void {
    if (!this.opts.publisher || this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    const pub = this.opts.publisher!;
    let failing = false;
    for (let batch = this.spool.peek(); batch && !this.stopped; batch = this.spool.peek()) {
      try {
        const res = await pub.send(batch.samples);
        this.spool.ack(batch.seq);
        if (this.lastError?.startsWith('publish: ')) this.lastError = null;
        this.counters.sent += batch.samples.length - res.rejected;
        if (res.rejected) {
          this.counters.rejected += res.rejected;
          this.lastError = `publish: ${res.rejected} sample(s) refused by ${pub.display}: ${res.reasons.join('; ')}`;
          this.opts.log.warn({ to: pub.display, rejected: res.rejected, reasons: res.reasons }, 'destination refused window samples as invalid (dead-lettered there); not resent');
        }
        if (failing) this.opts.log.info({ to: pub.display, waiting: this.spool.samples }, 'destination reachable again; sending the spool');
        failing = false;
      } catch (err) {
        this.lastError = `publish: ${(err as Error).message}`;
        if (!failing) this.opts.log.warn({ to: pub.display, err: (err as Error).message, spooled: this.spool.samples }, 'destination unreachable; window samples wait in the spool');
        failing = true;
        await sleep(this.opts.config.retry_s * 1000);
      }
    }
  }

  /** Wait until everything spooled has been sent (or `timeoutMs` passed). True when the spool is empty. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (!this.opts.publisher) return this.spool.batches === 0; // nowhere to send: nothing to wait for
    const until = Date.now() + timeoutMs;
    while (this.spool.batches > 0 && Date.now() < until) {
      this.kickDrain();
      await sleep(50);
    }
    return this.spool.batches === 0;
  }

  private async registerLoop(): Promise<void> {
    const { url, token, fetch: fetchWith = fetch, tls } = this.opts.controller!;
    while (!this.stopped) {
      try {
        const res = await fetchWith(new URL('/v1/agents/register', url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ host: this.host, instance: this.instance, interval_s: this.opts.config.heartbeat_s, facts: { architecture: this.discovery.architecture, cpu_model: this.discovery.cpu_model, cpu_cores: this.discovery.cpu_cores, memory_total_bytes: this.discovery.memory_total_bytes }, resources: this.heartbeatResources() }),
        });
        const body = (await res.json().catch(() => ({}))) as { redis_url?: string; channel_prefix?: string; heartbeat_s?: number; message?: string; reason?: string };
        if (res.status === 401 || res.status === 403) throw new Error(`controller refused registration (${res.status}): ${body.reason ?? body.message ?? ''}`);
        if (!res.ok || !body.redis_url || !body.channel_prefix) throw new Error(`controller answered ${res.status} ${body.message ?? ''}`);
        await this.connectQueue(body.redis_url, body.channel_prefix, body.heartbeat_s ?? this.opts.config.heartbeat_s, tls);
        this.opts.log.info({ controller: url }, 'registered with the controller');
        if (this.lastError?.startsWith('register: ')) this.lastError = null;
        return;
      } catch (err) {
        // fetch says only "fetch failed"; the reason (refused, TLS handshake, certificate) is its cause
        const cause = (err as Error).cause;
        const why = cause instanceof Error ? `${(err as Error).message}: ${cause.message}` : (err as Error).message;
        this.lastError = `register: ${why}`;
        this.opts.log.warn({ controller: url, err: why }, 'registration failed; retrying');
        await sleep(this.opts.config.retry_s * 1000);
      }
    }
  }

  private heartbeatResources() {
    const meters = new Map<string, string[]>();
    for (const m of this.discovery.metrics) meters.set(m.resource_id, [...(meters.get(m.resource_id) ?? []), m.name]);
    return [...meters].map(([id, names]) => ({ id, project_id: this.resources.get(id)?.project_id ?? null, meters: names }));
  }

  private async connectQueue(redisUrl: string, prefix: string, heartbeatS: number, tls?: ClientTlsFiles): Promise<void> {
    // ioredis is loaded only by agents that answer requests
    const { Responder } = await import('./responder');
    this.responder = await Responder.start({ redisUrl, prefix, host: this.host, instance: this.instance, heartbeatS, store: this.store, discovery: () => this.discovery, log: this.opts.log, ...(tls ? { tls } : {}) });
  }

  /**
   * Stop polling at once; send what the spool holds for up to `drainMs` (not waited for without a
   * destination); leave the queue. The open window is not published: a restart recomputes it.
   */
  async stop(drainMs = 0): Promise<void> {
    this.pollingStopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    for (const t of this.timers) clearInterval(t);
    while (this.polling) await sleep(10);
    if (drainMs > 0) await this.flush(drainMs);
    this.stopped = true;
    await this.registering;
    await this.draining;
    await this.responder?.close();
    await this.opts.publisher?.close();
    this.store.close();
  }
}
