/**
 * The request/reply protocol between the controller and the host agents over Redis pub/sub (pure:
 * channel names and message shapes, validated on receipt). Channels, with prefix P:
 *   P:heartbeat          agents → every controller: registration and heartbeats (resources held)
 *   P:req:<host>         controller → the agent of <host>: requests
 *   P:reply:<controller> agent → the asking controller: replies, correlated by request id
 *   P:hello              a controller that starts → every agent: heartbeat now (after a random delay)
 */
import { z } from 'zod';

export const channels = (prefix: string) => ({
  heartbeat: `${prefix}:heartbeat`,
  request: (host: string) => `${prefix}:req:${host}`,
  reply: (controller: string) => `${prefix}:reply:${controller}`,
  hello: `${prefix}:hello`,
});

/**
 * How long an agent waits before answering a controller's hello with a heartbeat: random in
 * [0, min(1 s, half its heartbeat period)), so thousands of agents do not answer in the same instant.
 */
export function helloDelayMs(heartbeatS: number, random = Math.random()): number {
  return Math.floor(random * Math.min(1000, (heartbeatS * 1000) / 2));
}

const resourceEntry = z.object({
  id: z.string().min(1),
  project_id: z.string().nullable(),
  meters: z.array(z.string().min(1)),
});

export const heartbeatMessage = z.object({
  kind: z.literal('heartbeat'),
  host: z.string().min(1).max(255),
  /** Random per agent process: a restarted agent is a new instance. */
  instance: z.string().min(1),
  interval_s: z.number().positive(),
  facts: z.object({ architecture: z.string(), cpu_model: z.string(), cpu_cores: z.number(), memory_total_bytes: z.number() }).partial().optional(),
  resources: z.array(resourceEntry).max(100_000),
  /** The agent is stopping: forget it now rather than after missed heartbeats. */
  leaving: z.boolean().optional(),
});
export type HeartbeatMessage = z.infer<typeof heartbeatMessage>;
export type ResourceEntry = z.infer<typeof resourceEntry>;

export const requestMessage = z.object({
  id: z.string().min(1),
  reply_to: z.string().min(1),
  op: z.literal('raw'),
  resource_id: z.string().min(1),
  meter: z.string().min(1),
  /** ms since the epoch, [from, to). */
  from: z.number(),
  to: z.number(),
  max_points: z.number().int().positive(),
});
export type RequestMessage = z.infer<typeof requestMessage>;

export const replyMessage = z.object({
  id: z.string().min(1),
  host: z.string(),
  ok: z.boolean(),
  /** [t ms, value] pairs. */
  points: z.array(z.tuple([z.number(), z.number()])).optional(),
  /** How many points the range held before thinning. */
  total: z.number().int().optional(),
  error: z.string().optional(),
});
export type ReplyMessage = z.infer<typeof replyMessage>;

/**
 * At most `max` points: every k-th point (k = ceil(n / max)), the last point always kept, so a long
 * range stays bounded and still ends at the newest reading.
 */
export function thin<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return points.slice();
  const k = Math.ceil(points.length / max);
  const out: T[] = [];
  for (let i = 0; i < points.length; i += k) out.push(points[i]!);
  if (out.at(-1) !== points.at(-1)) {
    if (out.length >= max) out[out.length - 1] = points.at(-1)!;
    else out.push(points.at(-1)!);
  }
  return out;
}
