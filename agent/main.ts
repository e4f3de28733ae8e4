/**
 * The agent's own entry point (`bin/metering-agent.mjs`): only the `agent` commands, so a host runs
 * the agent without loading the controller, the store driver and every other component (RSS budget:
 * 50 MB). `metering agent …` runs the same commands inside the full CLI.
 */
import { Command, CommanderError } from 'commander';
import { CliError } from '../cli/registry';
import { register } from './cli';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('metering-agent')
    .description('the metering host agent')
    .option('-c, --config <file>', 'configuration file (default: ./metering.yaml if present, else embedded defaults)')
    .showHelpAfterError()
    .exitOverride();
  register(program);
  try {
    // `metering-agent run …` = `metering agent run …`
    await program.parseAsync([argv[0]!, argv[1]!, 'agent', ...argv.slice(2)]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`metering-agent: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    throw err;
  }
}
