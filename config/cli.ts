import { dump } from 'js-yaml';
import type { RegisterCommands } from '../cli/registry';
import { CliError } from '../cli/registry';
import { documentedConfig } from './document';
import { loadConfig } from './load';
import type { MeteringConfig } from './schema';
import { YamlValidationError } from './yaml-source';

/** Keys whose values are secrets: shown as <redacted> whenever configuration is printed. */
const SECRET_KEYS = new Set(['token', 'telemetrySecret', 'password']);

export function redactConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactConfig);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k) && typeof v === 'string' && v !== '' ? '<redacted>' : redactConfig(v)]),
    );
  }
  if (typeof value === 'string') return value.replace(/\/\/([^/@:]+):([^/@]+)@/, '//$1:<redacted>@');
  return value;
}

export function renderConfig(config: MeteringConfig): string {
  return dump(redactConfig(config), { lineWidth: 120 });
}

export const register: RegisterCommands = (program) => {
  const config = program.command('config').description('inspect and validate metering.yaml');
  config
    .command('check')
    .description('validate a configuration file: print its errors (file:line: key: problem) and exit 1, or print the effective configuration (defaults and environment overrides applied, secrets redacted) and exit 0')
    .argument('[file]', 'configuration file', 'metering.yaml')
    .action((file: string) => {
      try {
        process.stdout.write(renderConfig(loadConfig(file)));
      } catch (err) {
        if (err instanceof YamlValidationError) {
          process.stderr.write(err.message + '\n');
          throw new CliError(`${file}: ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'}`, 1);
        }
        throw err;
      }
    });
  config
    .command('defaults')
    .description('print the embedded default configuration (--commented: with each key documented, as in the shipped metering.yaml)')
    .option('--commented', 'document every key with the comment from its schema')
    .action((opts: { commented?: boolean }) => {
      const defaults = loadConfig(undefined, {});
      process.stdout.write(opts.commented ? documentedConfig(redactConfig(defaults) as Record<string, unknown>) : renderConfig(defaults));
    });
};
