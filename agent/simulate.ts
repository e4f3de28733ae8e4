/**
 * Simulated agents for the scale benchmark (`metering agent simulate`, started by `agent bench
 * scale`): many light agents in one process, each with its own request channel and heartbeat on the
 * real Redis, answering raw requests from a small in-memory series instead of a disk store. Driven
 * by stdin lines `add <from> <to>` (start agents sim-<from>…sim-<to - 1>); answers `ok <count>`.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { redisConnectionOptions } from '../billing/jobs/connection';
import { channels, requestMessage, thin, type HeartbeatMessage } from './protocol';

export const simHost = (i: number) => `sim-${String(i).padStart(6, '0')}`;
/** The resources one simulated host holds (its own, one disk, one interface, one filesystem). */
export const simResources = (host: string) => [host, `${host}.vda`, `${host}.eth0`, `${host}./`];
const METERS: Record<number, string[]> = { 0: ['hardware.cpu.util', 'hardware.memory.used'], 1: ['hardware.disk.read.bytes'], 2: ['hardware.network.incoming.bytes'], 3: ['hardware.disk.size.used'] };

export async function runSimulatedAgents(opts: { redisUrl: string; prefix: string; heartbeatS: number }): Promise<void> {
  const conn = redisConnectionOptions(opts.redisUrl);
  const pub = new Redis(conn);
  const sub = new Redis(conn);
  const ch = channels(opts.prefix);
  const hosts = new Set<string>();
  // 60 points of a minute at 1 s, shared by every simulated agent
  const t0 = Date.now() - 60_000;
  const series: Array<[number, number]> = Array.from({ length: 60 }, (_, i) => [t0 + i * 1000, 20 + 10 * Math.sin(i / 6)]);
  const reqPrefix = ch.request('');
  sub.on('message', (channel: string, text: string) => {
    const host = channel.slice(reqPrefix.length);
    let parsed;
    try {
      parsed = requestMessage.safeParse(JSON.parse(text));
    } catch {
      return; // not JSON: ignored, as a real agent does
    }
    if (!parsed.success) return;
    const r = parsed.data;
    const pts = series.filter(([t]) => t >= r.from && t < r.to);
    void pub.publish(r.reply_to, JSON.stringify({ id: r.id, host, ok: true, points: thin(pts, r.max_points), total: pts.length }));
  });
  const heartbeat = (host: string): string => {
    const msg: HeartbeatMessage = {
      kind: 'heartbeat',
      host,
      instance: `${host}-sim`,
      interval_s: opts.heartbeatS,
      facts: { architecture: 'x86_64', cpu_model: 'simulated', cpu_cores: 8, memory_total_bytes: 32 * 2 ** 30 },
      resources: simResources(host).map((id, i) => ({ id, project_id: null, meters: METERS[i]! })),
    };
    return JSON.stringify(msg);
  };
  // heartbeats spread over the period
  let cursor = 0;
  const perTick = () => Math.max(1, Math.ceil(hosts.size / (opts.heartbeatS * 10)));
  const timer = setInterval(() => {
    const list = [...hosts];
    const n = perTick();
    const p = pub.pipeline();
    for (let k = 0; k < n && list.length; k++) p.publish(ch.heartbeat, heartbeat(list[cursor++ % list.length]!));
    void p.exec();
  }, 100);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const m = /^add (\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const added: string[] = [];
    for (let i = Number(m[1]); i < Number(m[2]); i++) added.push(simHost(i));
    for (let i = 0; i < added.length; i += 1000) await sub.subscribe(...added.slice(i, i + 1000).map((h) => ch.request(h)));
    // register at once (first heartbeat), then the spread heartbeats keep them alive
    for (let i = 0; i < added.length; i += 500) {
      const p = pub.pipeline();
      for (const h of added.slice(i, i + 500)) p.publish(ch.heartbeat, heartbeat(h));
      await p.exec();
    }
    for (const h of added) hosts.add(h);
    process.stdout.write(`ok ${hosts.size}\n`);
  }
  clearInterval(timer);
  sub.disconnect();
  pub.disconnect();
}
