import type { Command } from 'commander';
import { dump } from 'js-yaml';
import type { RegisterCommands } from '../cli/registry';
import { CliError } from '../cli/registry';
import { documentedConfig } from '../config/document';
import { YamlValidationError } from '../config/yaml-source';
import { redactSecrets } from '../config/secrets';
import { CONFIG_DOCUMENTATION, loadConfig, type MeteringConfig } from './config';

export function renderConfig(config: MeteringConfig): string {
  return dump(redactSecrets(config), { lineWidth: 120 });
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
      process.stdout.write(opts.commented ? documentedConfig(redactSecrets(defaults) as Record<string, unknown>, CONFIG_DOCUMENTATION) : renderConfig(defaults));
    });
};

/** The configuration named by the program's --config (or the default), or a CliError (exit 2) listing its located problems. */
export function programConfig(program: Command): MeteringConfig {
  try {
    return loadConfig(program.opts<{ config?: string }>().config);
  } catch (err) {
    if (err instanceof YamlValidationError) throw new CliError(err.message, 2);
    throw err;
  }
}
