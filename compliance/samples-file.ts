import { readFileSync } from 'node:fs';
import { JsonSyntaxError, parseTaggedJson } from '../pipeline/ceilometer/json';
import { parseHttpBody } from '../pipeline/ceilometer/normalize';
import type { Sample } from '../pipeline/sample';

/** A problem in a samples file, located at the line its item starts on. */
export interface SampleFileIssue {
  file: string;
  line: number;
  message: string;
}

export class SampleFileError extends Error {
  constructor(readonly issues: SampleFileIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}: ${i.message}`).join('\n'));
  }
}

/** Line (1-based) of each offset, from one pass over the text. */
function lineFinder(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * Samples as the Ceilometer `http://` publisher posts them: a JSON list of `Sample.as_dict()` items
 * (signed `counter_*` items are accepted too; signatures are not checked offline). Every bad item is
 * reported as `file:line: samples[i]: field: problem`; nothing is returned unless every item is valid.
 */
export function parseSamplesText(text: string, file: string): Sample[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new SampleFileError([{ file, line: 1, message: 'empty file (expected a JSON list of samples, the http publisher\'s as_dict list)' }]);
  let parsed;
  try {
    parsed = parseTaggedJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new SampleFileError([{ file, line: err.line, message: `invalid JSON at column ${err.column}: ${err.detail}` }]);
    throw err;
  }
  if (!Array.isArray(parsed.value)) throw new SampleFileError([{ file, line: lineFinder(text)(text.search(/\S/)), message: 'expected a JSON list of samples (the http publisher\'s as_dict list)' }]);
  const spans = parsed.itemSpans.get(parsed.value) ?? [];
  const { samples, rejects } = parseHttpBody(text, { signaturePolicy: 'off', maxBodyBytes: Number.MAX_SAFE_INTEGER, maxSampleBytes: 16 * 1024 * 1024 });
  if (rejects.length) {
    const lineAt = lineFinder(text);
    throw new SampleFileError(rejects.map((r) => ({ file, line: r.index >= 0 && spans[r.index] ? lineAt(spans[r.index]![0]) : 1, message: r.index >= 0 ? `samples[${r.index}]: ${r.reason}` : r.reason })));
  }
  return samples;
}

export function readSamplesFile(file: string): Sample[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SampleFileError([{ file, line: 0, message: `cannot read file: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}` }]);
  }
  return parseSamplesText(text, file);
}
