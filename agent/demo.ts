import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { DemoContext, DemoStep } from '../cli/demo-context';
import { COLLECTIONS } from '../pipeline/store/layout';
import { agentHostConfig } from './config';
import { HostProbe } from './host/probe';
import { createPublisher } from './publisher';
import { AgentRuntime } from './runtime';
import { sparkline } from './top';

/**
 * Demo chapter: a host agent on this machine. Discovery from /proc and /sys; the agent registers with
 * the running controller, polls every second and publishes one signed window sample per metric
 * every 2 s through the http:// publisher path; the window samples are shown arriving in the store;
 * then the controller asks the agent for a resource's raw points through Redis (request/reply by
 * resource id) and for the host's series (GET /v1/hosts/series).
 */
export const agentDemoStep: DemoStep = {
  title: 'Host agent: discovery on this machine, window samples into the store, raw data on request',
  needs: ['redis'],
  async run(ctx: DemoContext) {
    const dir = mkdtempSync(path.join(ctx.outDir, 'agent-'));
    const probe = new HostProbe();
    const d = await probe.discover();
    const kinds = new Map<string, number>();
    for (const r of d.resources) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    ctx.say(`discovery on ${d.host}: ${d.cpu_model}, ${d.architecture}, ${d.cpu_cores} cores, ${(d.memory_total_bytes / 2 ** 30).toFixed(1)} GiB`);
    ctx.say(`  ${d.metrics.length} metrics on ${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')} (e.g. ${[...new Set(d.metrics.map((m) => m.name))].slice(0, 4).join(', ')}, …)`);
    const agent = new AgentRuntime({
      probe,
      config: agentHostConfig.parse({ data_dir: dir, heartbeat_s: 5, retry_s: 1 }),
      intervalMs: 1000,
      windowMs: 2000,
      publisher: createPublisher(`${ctx.url}/v1/samples`, { token: ctx.token, secret: ctx.secret }),
      controller: { url: ctx.url, token: ctx.token },
      log: pino({ level: process.env.METERING_LOG_LEVEL ?? 'warn' }),
    });
    try {
      await agent.start();
      ctx.say(`agent running: poll every 1 s, window 2 s, raw polls kept in ${path.relative(process.cwd(), dir)}, samples signed to ${ctx.url}/v1/samples`);
      const meter = ctx.app.services.db.collection(COLLECTIONS.meter);
      const until = Date.now() + 20_000;
      let windows: Date[] = [];
      while (Date.now() < until) {
        windows = (await meter.distinct('timestamp', { resource_id: d.host, counter_name: 'hardware.cpu.util' })) as Date[];
        if (windows.length >= 3 && agent.status().registered) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (windows.length < 1) throw new Error(`no window sample of ${d.host} reached the store within 20 s (agent: ${JSON.stringify(agent.status())})`);
      const count = await meter.countDocuments({ resource_id: { $regex: `^${d.host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}` }, source: 'metering-agent' });
      ctx.say(`store: ${count} window samples from the agent so far (${windows.length} windows of hardware.cpu.util); the latest:`);
      const doc = await meter.find({ resource_id: d.host, counter_name: 'hardware.cpu.util' }).sort({ timestamp: -1 }).limit(1).next();
      const w = doc!.resource_metadata.window as Record<string, number | string>;
      ctx.say(`  hardware.cpu.util volume ${Number(doc!.counter_volume).toFixed(2)} % = avg of ${w.count} polls in [${w.start}, ${w.end}) (min ${Number(w.min).toFixed(2)}, max ${Number(w.max).toFixed(2)}, last ${Number(w.last).toFixed(2)}); cpu_model "${doc!.resource_metadata.cpu_model}", cpu_cores ${doc!.resource_metadata.cpu_cores}`);

      const from = new Date(Date.now() - 120_000).toISOString();
      const t0 = Date.now();
      const raw = (await ctx.call('GET', `/v1/resources/${encodeURIComponent(d.host)}/raw?meter=hardware.memory.used&from=${from}`)).json<{ host: string; points: Array<{ t: string; v: number }> }>();
      ctx.say(`request/reply: GET /v1/resources/${d.host}/raw?meter=hardware.memory.used → ${raw.points.length} raw points from host ${raw.host} via Redis in ${Date.now() - t0} ms`);
      ctx.say(`  memory used (kB) ${sparkline(raw.points.map((p) => p.v), 40)} last ${raw.points.at(-1)?.v ?? '-'}`);
      const series = (await ctx.call('GET', `/v1/hosts/series?hosts=${encodeURIComponent(d.host)},no-such-host&meter=hardware.cpu.util&from=${from}`)).json<{ hosts: Array<{ host: string; status: string; points: Array<{ v: number }> }> }>();
      for (const h of series.hosts) ctx.say(`  /v1/hosts/series ${h.host}: ${h.status}${h.points.length ? ` ${sparkline(h.points.map((p) => p.v), 40)}` : ''}`);
    } finally {
      await agent.stop(3000);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
