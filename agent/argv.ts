/**
 * A small argv parser for the agent's own entry (bin/metering-agent.mjs), which cannot afford
 * commander (RSS budget). Each command lists its options; `--opt value` and `--opt=value` are
 * accepted, numbers must be > 0, and anything else is refused with an error naming the bad
 * option or command. Pure: returns the parsed command or throws ArgvError.
 */

export class ArgvError extends Error {}

export interface OptionSpec {
  /** Long flag, e.g. `--interval`; the parsed key is its camelCase form (`--data-dir` → `dataDir`). */
  flag: string;
  short?: string;
  /** `number` (> 0), `string`, or `boolean` (a switch without value). */
  type: 'number' | 'string' | 'boolean';
  arg?: string;
  help: string;
  default?: number | string;
}

export interface CommandSpec {
  name: string;
  help: string;
  options: OptionSpec[];
  /** Options that must be given. */
  required?: string[];
}

export interface Parsed {
  command: string | undefined;
  help: boolean;
  options: Record<string, string | number | boolean>;
}

const key = (flag: string) => flag.replace(/^--?/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function value(spec: OptionSpec, raw: string): string | number {
  if (spec.type !== 'number') return raw;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ArgvError(`${spec.flag} must be a number > 0, got "${raw}"`);
  return n;
}

/** Parse `argv` (without node and script) against the global options and the commands. */
export function parseArgv(argv: readonly string[], globals: OptionSpec[], commands: CommandSpec[]): Parsed {
  let command: CommandSpec | undefined;
  let help = false;
  const options: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (!a.startsWith('-')) {
      if (command) throw new ArgvError(`unexpected argument '${a}' for '${command.name}'`);
      command = commands.find((c) => c.name === a);
      if (!command) throw new ArgvError(`unknown command '${a}' (commands: ${commands.map((c) => c.name).join(', ')})`);
      continue;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const spec = (command?.options ?? []).concat(globals).find((o) => o.flag === flag || o.short === flag);
    if (!spec) {
      const known = (command?.options ?? []).concat(globals).map((o) => o.flag).join(', ');
      throw new ArgvError(`unknown option '${flag}'${command ? ` for '${command.name}'` : ''} (options: ${known}, --help)`);
    }
    if (spec.type === 'boolean') {
      if (eq > 0) throw new ArgvError(`option '${spec.flag}' takes no value`);
      options[key(spec.flag)] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq > 0) raw = a.slice(eq + 1);
    else {
      raw = argv[i + 1];
      if (raw === undefined || (raw.startsWith('-') && raw.length > 1 && Number.isNaN(Number(raw)))) throw new ArgvError(`option '${spec.flag} <${spec.arg ?? 'value'}>' needs a value`);
      i++;
    }
    options[key(spec.flag)] = value(spec, raw);
  }
  if (command && !help) {
    for (const o of command.options) if (o.default !== undefined && options[key(o.flag)] === undefined) options[key(o.flag)] = o.default;
    for (const r of command.required ?? []) if (options[key(r)] === undefined) throw new ArgvError(`'${command.name}' needs ${r}`);
  }
  return { command: command?.name, help, options };
}

/** Usage text: the program's commands, or one command's options. */
export function usage(program: string, globals: OptionSpec[], commands: CommandSpec[], command?: string): string {
  const line = (o: OptionSpec) => `  ${[o.short, o.flag].filter(Boolean).join(', ')}${o.type === 'boolean' ? '' : ` <${o.arg ?? 'value'}>`}`.padEnd(28) + `  ${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ''}\n`;
  const c = commands.find((x) => x.name === command);
  if (c) return `Usage: ${program} ${c.name} [options]\n\n${c.help}\n\nOptions:\n${c.options.concat(globals).map(line).join('')}`;
  return `Usage: ${program} [options] <command>\n\nCommands:\n${commands.map((x) => `  ${x.name.padEnd(10)}  ${x.help}\n`).join('')}\nOptions:\n${globals.map(line).join('')}${line({ flag: '--help', short: '-h', type: 'boolean', help: 'this help (also after a command)' })}`;
}
