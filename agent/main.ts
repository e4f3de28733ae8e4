/**
 * The agent's own entry point (`bin/metering-agent.mjs`): the host's commands (`discover`, `run`,
 * `top`) without the controller, the store driver, the other components, and without commander,
 * zod or (unless a configuration file is read) js-yaml, so a host stays within the agent's RSS
 * budget of 50 MB. Options are parsed by agent/argv.ts, `agent.host` is validated by
 * agent/host-settings.ts (kept equal to the zod schema in agent/config.ts by a test).
 * `metering agent …` runs the same commands inside the full CLI.
 */
import { ArgvError, parseArgv, usage, type CommandSpec, type OptionSpec } from './argv';
import { CliError } from '../cli/registry';
import type { AgentSettings, TopOptions } from './commands';
import { agentHostDefaults } from './host-settings';

const d = agentHostDefaults();
const GLOBALS: OptionSpec[] = [{ flag: '--config', short: '-c', type: 'string', arg: 'file', help: 'configuration file (default: ./metering.yaml if present, else embedded defaults)' }];
/** For an https:// controller (controller.tls): its CA and, for mutual TLS, a client certificate. */
const TLS_OPTIONS: OptionSpec[] = [
  { flag: '--ca', type: 'string', arg: 'file', help: "PEM CA the https:// controller's certificate chains to (default: the system's CAs)" },
  { flag: '--cert', type: 'string', arg: 'file', help: 'PEM client certificate for mutual TLS (its subject maps to a principal in controller.tls.clientPrincipals)' },
  { flag: '--key', type: 'string', arg: 'file', help: 'PEM private key of --cert' },
];
const COMMANDS: CommandSpec[] = [
  {
    name: 'discover',
    help: 'list what this host can report',
    options: [
      { flag: '--json', type: 'boolean', help: 'print {"host","architecture","cpu_model","cpu_cores","memory_total_bytes","metrics":[…]}' },
      { flag: '--host', type: 'string', arg: 'name', help: "host name to report as (default: this machine's hostname)" },
    ],
  },
  {
    name: 'run',
    help: 'run the host agent: poll, keep raw polls on the host, publish window samples, answer raw-data requests',
    options: [
      { flag: '--interval', type: 'number', arg: 's', help: `seconds between polls (default agent.host.interval_s, ${d.interval_s})` },
      { flag: '--window', type: 'number', arg: 's', help: `seconds per aggregation window (default agent.host.window_s, ${d.window_s})` },
      { flag: '--duration', type: 'number', arg: 's', help: 'stop after this many seconds (default: run until SIGINT/SIGTERM)' },
      { flag: '--publish', type: 'string', arg: 'url', help: 'http://[user:TOKEN@]host:port/v1/samples | kafka://host:port?topic=ceilometer | file:PATH' },
      { flag: '--controller', type: 'string', arg: 'url', help: 'register with this controller and answer its raw-data requests' },
      { flag: '--token', type: 'string', arg: 'token', help: 'bearer token (role ingest) for --controller and an http:// --publish (or METERING_AGENT_TOKEN)' },
      { flag: '--data-dir', type: 'string', arg: 'dir', help: `local raw store and spool (default agent.host.data_dir, ${d.data_dir})` },
      { flag: '--host', type: 'string', arg: 'name', help: "host name to report as (default: this machine's hostname)" },
      { flag: '--quiet', type: 'boolean', help: 'no progress lines' },
      ...TLS_OPTIONS,
    ],
  },
  {
    name: 'top',
    help: "the hosts' own series of one meter as a live table with sparklines",
    required: ['--controller'],
    options: [
      { flag: '--controller', type: 'string', arg: 'url', help: 'controller base URL' },
      { flag: '--token', type: 'string', arg: 'token', help: 'bearer token with role read (or METERING_TOKEN)' },
      { flag: '--hosts', type: 'string', arg: 'list', help: 'comma-separated host names (default: every registered agent, up to 20)' },
      { flag: '--meter', type: 'string', arg: 'name', help: 'meter', default: 'hardware.cpu.util' },
      { flag: '--span', type: 'number', arg: 's', help: 'seconds of history per sparkline', default: 300 },
      { flag: '--refresh', type: 'number', arg: 's', help: 'seconds between redraws', default: 2 },
      { flag: '--once', type: 'boolean', help: 'draw once and exit' },
      ...TLS_OPTIONS,
    ],
  },
];

async function settings(file: string | undefined): Promise<() => AgentSettings> {
  // js-yaml is loaded only when there is a file to read (esbuild splits this into its own chunk)
  const { readAgentSettings } = await import('./settings-file');
  try {
    const s = readAgentSettings(file);
    return () => s;
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  try {
    if (args[0] === 'bench' || args[0] === 'simulate') throw new CliError(`'${args[0]}' is not part of the agent's own entry: run \`metering agent ${args[0]} …\` (the full CLI)`, 2);
    let p;
    try {
      p = parseArgv(args, GLOBALS, COMMANDS);
    } catch (err) {
      if (err instanceof ArgvError) throw new CliError(`${err.message}\n(see metering-agent ${args.some((a) => COMMANDS.some((c) => c.name === a)) ? `${args.find((a) => COMMANDS.some((c) => c.name === a))} ` : ''}--help)`, 2);
      throw err;
    }
    if (p.help || !p.command) {
      (p.help ? process.stdout : process.stderr).write(usage('metering-agent', GLOBALS, COMMANDS, p.command));
      if (!p.help) process.exitCode = 1;
      return;
    }
    const o = p.options as Record<string, never>;
    const config = o.config as string | undefined;
    const { discoverCommand, runCommand, topCommand } = await import('./commands');
    if (p.command === 'discover') await discoverCommand(o, await settings(config));
    else if (p.command === 'run') await runCommand(o, await settings(config));
    else await topCommand(o as unknown as TopOptions); // parseArgv enforced top's required --controller and filled its defaults
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`metering-agent: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    throw err;
  }
}
