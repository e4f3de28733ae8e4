import { Command, CommanderError } from 'commander';
import { CliError } from './registry';
import { commandGroups } from '../app/commands';

export function buildProgram(): Command {
  const program = new Command('metering')
    .description('Scalable metering pipeline on sharded MongoDB (Ceilometer ingestion, estimation, profiling, autoscaling, rating)')
    .option('-c, --config <file>', 'configuration file (default: ./metering.yaml if present, else embedded defaults)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandGroups) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `metering … | head` closes stdout early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`metering: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    throw err;
  }
}
