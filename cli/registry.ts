import type { Command } from 'commander';

/**
 * Each component contributes its subcommands through a `register(program)` function in its own
 * `<component>/cli.ts`; app/commands.ts lists them. Keeps the command tree in one program without one
 * file that every feature edits.
 */
export type RegisterCommands = (program: Command) => void;

/** Print a line of JSON to stdout (commands with --json print one object or one object per line). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** An error the CLI reports as one clear line on stderr with exit code `code` (no stack trace). */
export class CliError extends Error {
  constructor(message: string, readonly code = 1) {
    super(message);
  }
}

/** A command group several modules add subcommands to (e.g. `store migrate`, `store init`): found if registered, else created. */
export function commandGroup(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}
