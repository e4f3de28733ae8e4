import type { Logger } from 'pino';
import type { ComplianceWebhookConfig } from './config';
import type { AlertEvent } from './alerts';

export interface WebhookStats {
  delivered: number;
  /** Attempts that failed and were tried again. */
  retries: number;
  /** Alerts given up after max_attempts. */
  failed: number;
  /** Alerts dropped because the queue was full, or still waiting at shutdown. */
  dropped: number;
  queued: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Delivers alert events to a webhook one at a time, in order, each retried with exponential back-off
 * (a non-2xx answer, a timeout or a refused connection is a failed attempt). It never blocks the
 * caller: events wait in a bounded queue (oldest dropped and counted when full).
 */
export class WebhookSender {
  readonly stats: WebhookStats = { delivered: 0, retries: 0, failed: 0, dropped: 0, queued: 0 };
  private readonly queue: AlertEvent[] = [];
  private running?: Promise<void>;
  private readonly stop = new AbortController();

  constructor(private readonly config: ComplianceWebhookConfig, private readonly log?: Logger) {}

  get enabled(): boolean {
    return this.config.url !== '';
  }

  send(ev: AlertEvent): void {
    if (!this.enabled || this.stop.signal.aborted) return;
    if (this.queue.length >= this.config.queue_limit) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.queue.push(ev);
    this.stats.queued = this.queue.length;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when every queued event was delivered or given up. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stop: wait up to `graceMs` for the queue, then drop what is left (counted). */
  async close(graceMs = 2000): Promise<void> {
    const t = setTimeout(() => this.stop.abort(), graceMs);
    await this.idle();
    clearTimeout(t);
    this.stop.abort();
    this.stats.dropped += this.queue.length;
    this.queue.length = 0;
    this.stats.queued = 0;
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.stop.signal.aborted) {
      const ev = this.queue.shift()!; // in flight: no longer in the (bounded) waiting queue
      this.stats.queued = this.queue.length;
      const ok = await this.deliver(ev);
      if (ok) this.stats.delivered++;
      else if (!this.stop.signal.aborted) this.stats.failed++;
    }
  }

  private async deliver(ev: AlertEvent): Promise<boolean> {
    const c = this.config;
    let delay = c.backoff_ms;
    for (let attempt = 1; attempt <= c.max_attempts; attempt++) {
      if (this.stop.signal.aborted) return false;
      let problem: string;
      try {
        const res = await fetch(c.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(c.token ? { authorization: `Bearer ${c.token}` } : {}) },
          body: JSON.stringify(ev),
          signal: AbortSignal.any([AbortSignal.timeout(c.timeout_ms), this.stop.signal]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return true;
        problem = `answered ${res.status}`;
      } catch (err) {
        problem = (err as Error).message;
      }
      if (attempt === c.max_attempts) {
        this.log?.warn({ alert: ev.alert.id, event: ev.event, attempts: attempt, problem }, 'compliance webhook: giving up on an alert');
        return false;
      }
      this.stats.retries++;
      await sleep(delay, this.stop.signal);
      delay = Math.min(c.max_backoff_ms, Math.max(1, delay * 2));
    }
    return false;
  }
}
