/**
 * The host agent's commands (`discover`, `run`, `top`), shared by the full CLI (agent/cli.ts,
 * commander) and the agent's own entry (agent/main.ts, a small argv parser): the options arrive
 * parsed and the settings through a function, so neither commander nor zod is needed here.
 */
import { stderrLog } from './log';
import { CliError, printJson } from '../cli/registry';
import type { AgentHostConfig } from './config';
import { HostProbe } from './host/probe';
import { discoveryJson } from './metrics';
import { createPublisher, PublishError } from './publisher';
import { AgentRuntime } from './runtime';
import type { ClientTlsFiles, FetchLike } from './tls-client';

/** What the agent reads from the configuration: `agent.host` and `ingest.telemetrySecret`. */
export interface AgentSettings {
  host: AgentHostConfig;
  telemetrySecret: string;
}

export interface DiscoverOptions {
  json?: boolean;
  host?: string;
}

export async function discoverCommand(opts: DiscoverOptions, settings: () => AgentSettings): Promise<void> {
  const cfg = settings().host;
  const probe = new HostProbe({ host: opts.host, perCore: cfg.per_core, virshTimeoutMs: cfg.virsh_timeout_s * 1000 });
  const d = await probe.discover();
  if (opts.json) {
    printJson(discoveryJson(d));
    return;
  }
  const out = process.stdout;
  out.write(`${d.host}: ${d.cpu_model}, ${d.architecture}, ${d.cpu_cores} cores, ${(d.memory_total_bytes / 2 ** 30).toFixed(1)} GiB\n`);
  const byKind = new Map<string, number>();
  for (const r of d.resources) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
  out.write(`${d.resources.length} resources (${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}), ${d.metrics.length} metrics:\n`);
  const w = Math.max(...d.metrics.map((m) => m.name.length));
  for (const m of d.metrics) out.write(`  ${m.name.padEnd(w)}  ${m.type.padEnd(10)}  ${m.unit.padEnd(8)}  ${m.resource_id}\n`);
  for (const n of probe.notes) out.write(`note: ${n}\n`);
}

export interface RunOptions {
  interval?: number;
  window?: number;
  duration?: number;
  publish?: string;
  controller?: string;
  token?: string;
  dataDir?: string;
  host?: string;
  quiet?: boolean;
  /** PEM files for an https:// controller or destination: its CA, the agent's client certificate and key (mutual TLS). */
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * The `--ca`/`--cert`/`--key` files (or agent.host.tls_ca/tls_cert/tls_key, `fromSettings`) read and
 * checked, and a fetch that uses them (undefined when none is given). They only mean something for
 * https:// URLs: options given with none are refused; settings are then left unused.
 */
async function clientTls(opts: ClientTlsFiles, urls: Array<string | undefined>, fromSettings: { ca?: boolean; cert?: boolean; key?: boolean } = {}): Promise<{ files: ClientTlsFiles; fetch: FetchLike } | undefined> {
  if (!opts.ca && !opts.cert && !opts.key) return undefined;
  if (!urls.some((u) => u && /^https:\/\//i.test(u))) {
    // only settings (no option) name files: they serve https:// URLs when there are some, none here
    if ((!opts.ca || fromSettings.ca) && (!opts.cert || fromSettings.cert) && (!opts.key || fromSettings.key)) return undefined;
    throw new CliError(`--ca/--cert/--key apply to https:// URLs (a controller with controller.tls); got ${urls.filter(Boolean).join(', ') || 'no URL'}`, 2);
  }
  // node:https is loaded only by agents that use these options
  const { ClientTlsError, httpsFetch, loadClientTls } = await import('./tls-client');
  try {
    // a file is named by where it came from; a missing cert or key by where its partner came from
    const fromFile = (k: 'ca' | 'cert' | 'key'): boolean => (opts[k] ? !!fromSettings[k] : k === 'cert' ? !!fromSettings.key : k === 'key' && !!fromSettings.cert);
    const label = (k: 'ca' | 'cert' | 'key') => (fromFile(k) ? `agent.host.tls_${k}` : `--${k}`);
    const tls = loadClientTls(opts, Date.now(), { ca: label('ca'), cert: label('cert'), key: label('key') })!;
    return { files: { ca: opts.ca, cert: opts.cert, key: opts.key }, fetch: httpsFetch(tls) };
  } catch (err) {
    if (err instanceof ClientTlsError) throw new CliError(err.message, 2);
    throw err;
  }
}

export async function runCommand(opts: RunOptions, settings: () => AgentSettings): Promise<void> {
  const config = settings();
  const cfg = { ...config.host, ...(opts.dataDir ? { data_dir: opts.dataDir } : {}) };
  const intervalMs = (opts.interval ?? cfg.interval_s) * 1000;
  const windowMs = (opts.window ?? cfg.window_s) * 1000;
  if (windowMs < intervalMs) throw new CliError(`--window (${windowMs / 1000} s) must be at least --interval (${intervalMs / 1000} s)`, 2);
  const token = opts.token ?? process.env.METERING_AGENT_TOKEN;
  if (opts.controller && !/^https?:\/\/[^/\s]+/i.test(opts.controller)) throw new CliError(`--controller: expected http://host:port or https://host:port, got "${opts.controller}"`, 2);
  // with a controller and no --publish, window samples go to that controller's /v1/samples
  const to = opts.publish ?? (opts.controller ? new URL('/v1/samples', opts.controller).href : undefined);
  // --ca/--cert/--key win over agent.host.tls_ca/tls_cert/tls_key
  const tls = await clientTls({ ca: opts.ca ?? (cfg.tls_ca || undefined), cert: opts.cert ?? (cfg.tls_cert || undefined), key: opts.key ?? (cfg.tls_key || undefined) }, [opts.controller, to], { ca: !opts.ca && !!cfg.tls_ca, cert: !opts.cert && !!cfg.tls_cert, key: !opts.key && !!cfg.tls_key });
  let publisher;
  try {
    publisher = to ? createPublisher(to, { token, secret: config.telemetrySecret, ...(tls ? { fetch: tls.fetch } : {}) }) : undefined;
  } catch (err) {
    if (err instanceof PublishError) throw new CliError(err.message, 2);
    throw err;
  }
  const log = stderrLog(process.env.METERING_LOG_LEVEL ?? 'warn');
  const probe = new HostProbe({ host: opts.host, perCore: cfg.per_core, virshTimeoutMs: cfg.virsh_timeout_s * 1000 });
  const say = (l: string) => opts.quiet || process.stdout.write(l + '\n');
  const runtime = new AgentRuntime({
    probe,
    config: cfg,
    intervalMs,
    windowMs,
    publisher,
    controller: opts.controller ? { url: opts.controller, token, ...(tls ? { fetch: tls.fetch, tls: tls.files } : {}) } : undefined,
    log,
    onWindow: (samples) => {
      const s = runtime.status();
      const start = (samples[0]!.resource_metadata.window as { start: string }).start;
      say(`${new Date().toISOString()} window ${start}: ${samples.length} samples spooled; sent ${s.samples_sent}, waiting ${s.spool_batches} batch(es), raw store ${(s.raw_bytes / 1024).toFixed(0)} KiB${s.last_error ? `; last error: ${s.last_error}` : ''}`);
    },
  });
  await runtime.start();
  const d = runtime.currentDiscovery();
  say(`agent on ${d.host}: ${d.metrics.length} metrics on ${d.resources.length} resources; poll every ${intervalMs / 1000} s, window ${windowMs / 1000} s; raw store ${cfg.data_dir}; publish ${publisher?.display ?? '(spool only)'}${opts.controller ? `; controller ${opts.controller}` : ''}`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (opts.duration) setTimeout(done, opts.duration * 1000).unref();
  });
  await runtime.stop(opts.duration ? 10_000 : 2000);
  const s = runtime.status();
  say(`stopped: ${s.polls} polls, ${s.windows} windows, ${s.samples_spooled} samples spooled, ${s.samples_sent} sent, ${s.samples_rejected} refused by the destination, ${s.spool_dropped_samples} dropped at the spool bound, ${s.spool_batches} batch(es) still in the spool (sent on the next start)`);
}

export interface TopOptions {
  controller: string;
  token?: string;
  hosts?: string;
  meter: string;
  span: number;
  refresh: number;
  once?: boolean;
  /** PEM files for an https:// controller: its CA, a client certificate and key (mutual TLS). */
  ca?: string;
  cert?: string;
  key?: string;
}

export async function topCommand(opts: TopOptions): Promise<void> {
  const { renderTop } = await import('./top');
  const token = opts.token ?? process.env.METERING_TOKEN;
  const headers = token ? { authorization: `Bearer ${token}` } : undefined;
  const fetchWith = (await clientTls(opts, [opts.controller]))?.fetch ?? fetch;
  const get = async (p: string) => {
    let res: Response;
    try {
      res = await fetchWith(new URL(p, opts.controller), { headers });
    } catch (err) {
      throw new CliError(`${opts.controller}: ${(err as Error).cause ?? (err as Error).message}`, 1);
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new CliError(`GET ${p}: ${res.status} ${String(body.message ?? body.reason ?? '')}`, 1);
    return body;
  };
  let hosts = opts.hosts;
  if (!hosts) {
    const list = (await get('/v1/agents')) as { agents: Array<{ host: string }> };
    hosts = list.agents.slice(0, 20).map((a) => a.host).join(',');
    if (!hosts) throw new CliError('no agent is registered with the controller (start one with `metering agent run --controller …`)', 1);
  }
  for (;;) {
    const to = new Date();
    const from = new Date(to.getTime() - opts.span * 1000);
    const body = (await get(`/v1/hosts/series?hosts=${encodeURIComponent(hosts)}&meter=${encodeURIComponent(opts.meter)}&from=${from.toISOString()}&to=${to.toISOString()}`)) as { hosts: import('./top').SeriesRow[] };
    const table = renderTop(opts.meter, body.hosts, Math.min(60, Math.max(10, (process.stdout.columns ?? 120) - 70)), to);
    if (opts.once || !process.stdout.isTTY) {
      process.stdout.write(table);
      if (opts.once) return;
    } else process.stdout.write(`\x1b[H\x1b[2J${table}(refresh every ${opts.refresh} s; Ctrl-C to stop)\n`);
    await new Promise((r) => setTimeout(r, opts.refresh * 1000));
  }
}
