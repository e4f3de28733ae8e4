/**
 * `metering sample verify|sign`: check or produce Ceilometer message signatures from the command
 * line (operators checking a telemetry_secret, the trace replayer producing signed traffic).
 * Input: a JSON array, one JSON object, or JSON lines; FILE or '-' / nothing for stdin.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../cli/registry';
import { JsonSyntaxError, parseTaggedJson, stringifyTagged, type TaggedValue } from './ceilometer/json';
import { verifySignature } from './ceilometer/signature';
import { asDictToMeterMessage, signMessage } from './ceilometer/sign';
import { describeUtf8Problem, findInvalidUtf8 } from './ceilometer/utf8';
import { describeValue, isObject } from './ceilometer/validate';

const SECRET_ENV = 'METERING_TELEMETRY_SECRET';

function readInput(file: string | undefined): { name: string; buf: Buffer } {
  const name = !file || file === '-' ? 'stdin' : file;
  try {
    return { name, buf: readFileSync(!file || file === '-' ? 0 : file) };
  } catch (err) {
    throw new CliError(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
}

/** Parse a JSON array / single object / JSON lines into items (tagged, so float literals survive). */
export function parseSampleInput(buf: Buffer, name: string): TaggedValue[] {
  const bad = findInvalidUtf8(buf);
  if (bad) throw new CliError(`${name}: ${describeUtf8Problem(bad)}`, 2);
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new CliError(`${name}: empty input (expected a JSON array, an object or JSON lines)`, 2);
  try {
    const { value } = parseTaggedJson(text);
    return Array.isArray(value) ? value : [value];
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    const lines = text.split('\n');
    if (lines.filter((l) => l.trim() !== '').length < 2) throw new CliError(`${name}: ${err.message}`, 2);
    const items: TaggedValue[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        items.push(parseTaggedJson(line).value);
      } catch (lineErr) {
        if (lineErr instanceof JsonSyntaxError) throw new CliError(`${name}: line ${i + 1}: ${lineErr.message}`, 2);
        throw lineErr;
      }
    });
    return items;
  }
}

function resolveSecret(opt: string | undefined): string {
  const secret = opt ?? process.env[SECRET_ENV];
  if (secret === undefined) throw new CliError(`a telemetry secret is needed: pass --secret S or set ${SECRET_ENV}`, 2);
  return secret;
}

function idOf(item: TaggedValue): string | null {
  if (!isObject(item)) return null;
  const id = item.message_id ?? item.id;
  return typeof id === 'string' ? id : null;
}

export function registerSampleCommands(program: Command): void {
  const sample = program.command('sample').description('Ceilometer sample messages: verify and produce signatures');

  sample
    .command('verify')
    .description(
      'verify the message_signature of signed counter_* messages (JSON array or JSON lines); prints one JSON line per message; exit 0 all valid, 1 some invalid, 2 unreadable input',
    )
    .option('--secret <secret>', `Ceilometer [publisher] telemetry_secret (default: $${SECRET_ENV}); empty means every message is valid, as in Ceilometer`)
    .argument('[file]', "input file, or '-' for stdin", '-')
    .action((file: string, opts: { secret?: string }) => {
      const secret = resolveSecret(opts.secret);
      const { name, buf } = readInput(file);
      const items = parseSampleInput(buf, name);
      let invalid = 0;
      const lines = items.map((item, index) => {
        const head = { index, message_id: idOf(item) };
        if (!isObject(item)) {
          invalid++;
          return { ...head, valid: false, reason: `message: expected a JSON object, got ${describeValue(item)}` };
        }
        const check = verifySignature(item, secret);
        if (check.valid) return { ...head, valid: true };
        invalid++;
        return { ...head, valid: false, reason: check.reason };
      });
      process.stdout.write(lines.map((l) => JSON.stringify(l) + '\n').join(''));
      if (invalid > 0) process.exitCode = 1;
    });

  sample
    .command('sign')
    .description(
      'sign counter_* meter messages (or HTTP as_dict() items, converted to the master counter_* shape); prints one signed JSON message per line',
    )
    .option('--secret <secret>', `Ceilometer [publisher] telemetry_secret (default: $${SECRET_ENV})`)
    .argument('[file]', "input file, or '-' for stdin", '-')
    .action((file: string, opts: { secret?: string }) => {
      const secret = resolveSecret(opts.secret);
      const { name, buf } = readInput(file);
      const items = parseSampleInput(buf, name);
      const out = items.map((item, index) => {
        if (!isObject(item)) throw new CliError(`${name}: item ${index}: expected a JSON object, got ${describeValue(item)}`, 2);
        const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(item, k);
        if (has('counter_name')) return signMessage(item, secret);
        if (has('name')) return signMessage(asDictToMeterMessage(item), secret);
        throw new CliError(`${name}: item ${index}: neither a counter_* meter message (no counter_name) nor an as_dict() sample (no name)`, 2);
      });
      process.stdout.write(out.map((m) => stringifyTagged(m) + '\n').join(''));
    });
}
