import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { withinMs } from '../../lib/deadline';

/**
 * Fast failure of the job routes while Redis is unreachable (issue 10, finding 5): BullMQ commands
 * issued while the connection is down wait in ioredis' offline queue for as long as the outage lasts,
 * so a route that awaited them held its caller for the whole outage. Every queue call of a route runs
 * under `QUEUE_DEADLINE_MS`; past it, or when Redis is already known to be down, the caller gets 503
 * with Retry-After. Retrying is safe: job ids are deterministic, so a command that still lands later
 * and the caller's retry are one job.
 */

export const QUEUE_DEADLINE_MS = 1000;
export const RETRY_AFTER_SECONDS = 5;

export class QueueDeadline extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'QueueDeadline';
  }
}

/** `work`, or a QueueDeadline after `ms`. */
export function withinDeadline<T>(work: Promise<T>, ms = QUEUE_DEADLINE_MS): Promise<T> {
  return withinMs(work, ms, () => new QueueDeadline(ms));
}

/** The 503 of a job route while the queues are unavailable. */
export function queuesUnavailable(reply: FastifyReply, why: string): FastifyReply {
  return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: 'unavailable', message: `job queues unavailable: ${why}; retry in ${RETRY_AFTER_SECONDS} s` });
}

/**
 * A warning logged at most once per `intervalMs` per key, with how many were held back meanwhile
 * (a Redis outage makes every queue, worker and reconnect attempt report the same error).
 */
export class RateLimitedWarn {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    private readonly intervalMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): boolean {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return false;
    }
    this.log.warn(seen?.suppressed ? { ...obj, suppressed: seen.suppressed, sinceMs: t - seen.at } : obj, msg);
    this.last.set(key, { at: t, suppressed: 0 });
    return true;
  }
}
