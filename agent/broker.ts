/**
 * The controller's request broker: listens to agents' heartbeats (registry), sends requests to the
 * agent holding a resource through Redis pub/sub and waits for the reply with the same id on this
 * controller's own reply channel. Why Redis pub/sub (not Kafka): a request is only worth something
 * until its timeout, so at-most-once delivery is the right contract; a channel per host costs
 * nothing in Redis (10,000 agents = 10,000 channels, no partitions or consumer groups to rebalance
 * when agents come and go), and PUBLISH says how many subscribers got the message, so a request to
 * an agent that is not connected fails at once instead of waiting for the timeout.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { explainRedisFailure, redisConnectionOptions, type RedisTlsFiles } from '../billing/jobs/connection';
import { AgentRegistry } from './registry';
import { channels, heartbeatMessage, replyMessage, type HeartbeatMessage, type ReplyMessage, type RequestMessage } from './protocol';

export class AgentTimeoutError extends Error {
  constructor(readonly host: string, readonly reason: string) {
    super(`agent on host ${host} ${reason}`);
  }
}

export class BrokerBusyError extends Error {}

export interface BrokerOptions {
  redisUrl: string;
  /** PEM files for a rediss:// URL (redis.tls): the CA of the server's certificate, a client certificate and key. */
  redisTls?: RedisTlsFiles;
  prefix: string;
  timeoutMs: number;
  maxInFlight: number;
  missedHeartbeats: number;
  log?: Logger;
}

interface Pending {
  host: string;
  resolve: (r: ReplyMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class RequestBroker {
  readonly id = `ctl-${randomBytes(6).toString('hex')}`;
  readonly registry: AgentRegistry;
  private readonly pending = new Map<string, Pending>();
  private readonly ch: ReturnType<typeof channels>;
  private seq = 0;
  readonly stats = { requests: 0, replies: 0, timeouts: 0, not_connected: 0, busy: 0, bad_messages: 0, heartbeats: 0 };
  private expiry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly opts: BrokerOptions,
    private readonly pub: Redis,
    private readonly sub: Redis,
  ) {
    this.registry = new AgentRegistry(opts.missedHeartbeats);
    this.ch = channels(opts.prefix);
  }

  static async start(opts: BrokerOptions): Promise<RequestBroker> {
    const conn = redisConnectionOptions(opts.redisUrl, opts.redisTls);
    // no reconnecting before the first connection: a failed start is retried with new clients (agent/module.ts)
    let connected = false;
    const retryStrategy = (times: number) => (connected ? Math.min(times * 50, 2000) : null);
    const pub = new Redis({ ...conn, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy });
    const sub = new Redis({ ...conn, lazyConnect: true, retryStrategy });
    // why a connection failed arrives as an 'error' event (connect() only says the connection closed)
    let reason: Error | undefined;
    const firstError = (err: Error) => (reason ??= err);
    pub.on('error', firstError);
    sub.on('error', firstError);
    // both attempts settle before either client is closed: closing a TLS socket in mid-handshake made it
    // report a second error that nothing listened to (an uncaught exception)
    const attempts = await Promise.allSettled([pub.connect(), sub.connect()]);
    const failed = attempts.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    if (failed) {
      pub.disconnect();
      sub.disconnect();
      // (the listeners stay on the discarded clients: their late errors go nowhere)
      // a sentence naming the setting to fix (redis.url, redis.tls), without the password
      throw new Error(explainRedisFailure(reason ?? (failed.reason as Error), opts.redisUrl));
    }
    connected = true;
    pub.off('error', firstError);
    sub.off('error', firstError);
    const b = new RequestBroker(opts, pub, sub);
    try {
      sub.on('message', (channel: string, text: string) => b.onMessage(channel, text));
      await sub.subscribe(b.ch.heartbeat, b.ch.reply(b.id));
    } catch (err) {
      // the module retries with new clients: these must not stay connected (or keep reconnecting)
      pub.disconnect();
      sub.disconnect();
      throw err;
    }
    // every connected agent heartbeats within a second: this controller knows them at once, not one heartbeat period later
    await pub.publish(b.ch.hello, JSON.stringify({ controller: b.id })).catch((err: unknown) => opts.log?.warn({ err: (err as Error).message }, 'agent hello not published; agents are learnt at their next heartbeat'));
    b.expiry = setInterval(() => b.registry.expire(Date.now()), 60_000);
    b.expiry.unref();
    return b;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private onMessage(channel: string, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.stats.bad_messages++;
      return;
    }
    if (channel === this.ch.heartbeat) {
      const hb = heartbeatMessage.safeParse(json);
      if (!hb.success) {
        this.stats.bad_messages++;
        this.opts.log?.warn({ channel, issue: hb.error.issues[0]?.message }, 'agent heartbeat refused');
        return;
      }
      this.stats.heartbeats++;
      this.registry.heartbeat(hb.data, Date.now());
      return;
    }
    const r = replyMessage.safeParse(json);
    if (!r.success) {
      this.stats.bad_messages++;
      return;
    }
    const p = this.pending.get(r.data.id);
    if (!p || p.host !== r.data.host) return; // late (already timed out) or not from the asked host
    this.pending.delete(r.data.id);
    clearTimeout(p.timer);
    this.stats.replies++;
    p.resolve(r.data);
  }

  /** Ask the agent of `host`; rejects with AgentTimeoutError naming the host when it does not answer in time. */
  async request(host: string, body: Omit<RequestMessage, 'id' | 'reply_to'>, timeoutMs = this.opts.timeoutMs): Promise<ReplyMessage> {
    if (this.pending.size >= this.opts.maxInFlight) {
      this.stats.busy++;
      throw new BrokerBusyError(`${this.pending.size} requests to agents already in flight (agent.controller.max_in_flight)`);
    }
    this.stats.requests++;
    const id = `${this.id}-${++this.seq}`;
    const msg: RequestMessage = { ...body, id, reply_to: this.ch.reply(this.id) };
    const reply = new Promise<ReplyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        reject(new AgentTimeoutError(host, `did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { host, resolve, reject, timer });
    });
    reply.catch(() => undefined);
    let receivers: number;
    try {
      receivers = await this.pub.publish(this.ch.request(host), JSON.stringify(msg));
    } catch (err) {
      this.fail(id, new Error(`request queue unavailable: ${(err as Error).message}`));
      return reply;
    }
    if (receivers === 0) {
      this.stats.not_connected++;
      this.fail(id, new AgentTimeoutError(host, 'is not connected to the request queue (no subscriber)'));
    }
    return reply;
  }

  private fail(id: string, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err instanceof AgentTimeoutError) this.stats.timeouts++;
    p.reject(err);
  }

  /**
   * A registration received over HTTP (by this controller only, behind a load balancer): applied
   * here and published on the heartbeat channel, so every controller's registry has it at once
   * rather than at the agent's first Redis heartbeat. Returns how many controllers received it.
   */
  async announce(hb: HeartbeatMessage): Promise<number> {
    this.registry.heartbeat(hb, Date.now());
    return this.pub.publish(this.ch.heartbeat, JSON.stringify(hb));
  }

  /** Answers the readiness probe. */
  async ping(): Promise<void> {
    await this.pub.ping();
  }

  async close(): Promise<void> {
    if (this.expiry) clearInterval(this.expiry);
    for (const [id] of this.pending) this.fail(id, new Error('controller shutting down'));
    this.sub.disconnect();
    await this.pub.quit().catch(() => this.pub.disconnect());
  }
}
