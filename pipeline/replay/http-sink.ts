/**
 * The http:// publisher side of a replay: POST JSON lists to the controller's /v1/samples and add up
 * its answers. 429 and 503 are waited out for Retry-After seconds and the same body resent, so
 * nothing is dropped; the store's unique message ids make a resend harmless.
 */
import type { Sample } from '../sample';
import { httpBody, type HttpForm } from './encode';
import { ReplayError, sleep, type ReplaySink, type ReplayTotals } from './sink';

export interface HttpSinkOptions {
  url: string;
  /** Authorization header value (Basic from URL userinfo, or Bearer --token). */
  authorization?: string;
  form: HttpForm;
  secret: string;
  /** POSTs in flight at once (default 1, like one Ceilometer agent). */
  concurrency?: number;
  /** Consecutive failed connections (or 5xx other than 503) before giving up (default 5). */
  maxConnectionRetries?: number;
  /** Longest single wait on a Retry-After (default 60 s). */
  maxRetryAfterS?: number;
  /** Told about every wait: status (0 = connection failed) and seconds. */
  onRetry?: (status: number, waitS: number) => void;
  /** The fetch to POST with (default: the global fetch); the host agent's carries its CA and client certificate (agent/tls-client.ts). */
  fetch?: (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<Response>;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); `fallback` when absent or unreadable. */
export function retryAfterSeconds(header: string | null, fallback = 1, now = Date.now()): number {
  if (!header) return fallback;
  const t = header.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const at = Date.parse(t);
  return Number.isNaN(at) ? fallback : Math.max(0, (at - now) / 1000);
}

interface IngestAnswer {
  accepted?: number;
  stored?: number;
  duplicates?: number;
  rejected?: number;
  message?: string;
  reason?: string;
  rejects?: { index: number; reason: string }[];
}

export class HttpSink implements ReplaySink {
  readonly totals: ReplayTotals = { sent: 0, accepted: 0, stored: 0, duplicates: 0, rejected: 0, retries: 0 };
  /** Responses by status (after retries: 429 and 503 appear here each time they were answered). */
  readonly statuses: Record<string, number> = {};
  /** First few reject reasons the controller gave, to show the user why. */
  readonly rejectReasons: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(private readonly opts: HttpSinkOptions) {}

  async send(samples: readonly Sample[]): Promise<void> {
    if (this.failure) throw this.failure;
    const body = httpBody(samples, this.opts.form, this.opts.secret);
    const p = this.post(body, samples.length)
      .catch((e: Error) => {
        this.failure ??= e;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    while (this.inFlight.size >= (this.opts.concurrency ?? 1)) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async post(body: string, count: number): Promise<void> {
    const t = this.totals;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.authorization) headers.authorization = this.opts.authorization;
    let connectionFailures = 0;
    for (;;) {
      let res: Response;
      try {
        res = await (this.opts.fetch ?? fetch)(this.opts.url, { method: 'POST', headers, body });
      } catch (err) {
        connectionFailures++;
        if (connectionFailures > (this.opts.maxConnectionRetries ?? 5)) {
          throw new ReplayError(`${this.opts.url}: ${(err as Error).cause ?? (err as Error).message} (gave up after ${connectionFailures - 1} retries)`);
        }
        const wait = Math.min(10, 0.25 * 2 ** (connectionFailures - 1));
        t.retries++;
        this.opts.onRetry?.(0, wait);
        await sleep(wait * 1000);
        continue;
      }
      this.statuses[res.status] = (this.statuses[res.status] ?? 0) + 1;
      const text = await res.text();
      let answer: IngestAnswer = {};
      try {
        answer = JSON.parse(text) as IngestAnswer;
      } catch {
        /* not JSON: reported by status below */
      }
      if (res.status === 429 || res.status === 503) {
        const wait = Math.min(this.opts.maxRetryAfterS ?? 60, retryAfterSeconds(res.headers.get('retry-after')));
        t.retries++;
        this.opts.onRetry?.(res.status, wait);
        await sleep(wait * 1000);
        continue;
      }
      if (res.status >= 500) {
        connectionFailures++;
        if (connectionFailures > (this.opts.maxConnectionRetries ?? 5)) throw new ReplayError(`${this.opts.url}: HTTP ${res.status}: ${answer.message ?? text.slice(0, 200)}`);
        t.retries++;
        const wait = Math.min(10, 0.25 * 2 ** (connectionFailures - 1));
        this.opts.onRetry?.(res.status, wait);
        await sleep(wait * 1000);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw new ReplayError(`${this.opts.url}: HTTP ${res.status}: ${answer.reason ?? answer.message ?? text.slice(0, 200)} (give the ingest token as http://user:TOKEN@host/… or --token)`);
      }
      if (res.status === 413) throw new ReplayError(`${this.opts.url}: HTTP 413: ${answer.message ?? 'body too large'} (use a smaller --batch)`);
      if (res.status !== 200 && res.status !== 201 && res.status !== 207 && res.status !== 400) {
        throw new ReplayError(`${this.opts.url}: HTTP ${res.status}: ${answer.message ?? text.slice(0, 200)}`);
      }
      t.sent += count;
      t.accepted! += answer.accepted ?? 0;
      t.stored! += answer.stored ?? 0;
      t.duplicates! += answer.duplicates ?? 0;
      t.rejected! += answer.rejected ?? (res.status === 400 ? count : 0);
      for (const r of answer.rejects ?? []) if (this.rejectReasons.length < 5) this.rejectReasons.push(r.reason);
      return;
    }
  }
}
