import { readFileSync } from 'node:fs';
import { load, parseEvents, getScalarValue, YAMLException, type Event } from 'js-yaml';
import type { z } from 'zod';

/** A path into a parsed YAML document: mapping keys and sequence indexes. */
export type YamlPath = ReadonlyArray<string | number>;

/** A problem in a YAML input, located as precisely as the source allows. */
export interface YamlIssue {
  file: string;
  line: number; // 1-based; 0 when the document is empty
  path: string; // dotted, e.g. store.writeConcern or plans[0].charges[1].model
  message: string;
}

export function formatPath(path: YamlPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

export function formatIssue(i: YamlIssue): string {
  return `${i.file}:${i.line}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Thrown by parseYaml/validateYaml; carries every issue found, each on its own line. */
export class YamlValidationError extends Error {
  constructor(readonly issues: YamlIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

const EV = { DOCUMENT: 1, SEQUENCE: 2, MAPPING: 3, SCALAR: 4, ALIAS: 5, POP: 6 } as const;

/**
 * Parsed YAML plus a map from every path to the line it starts on, built from js-yaml's event
 * stream (one pass, no second parser). Uses js-yaml's default YAML 1.2 core schema, so
 * `2013-05-23` stays a string (Heat's `heat_template_version` trap).
 */
export class YamlSource {
  private readonly lines = new Map<string, number>();
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string, readonly file: string, readonly value: unknown) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    this.index();
  }

  /** Line (1-based) of the deepest existing prefix of `path`. */
  lineOf(path: YamlPath): number {
    for (let n = path.length; n >= 0; n--) {
      const line = this.lines.get(JSON.stringify(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return 1;
  }

  issue(path: YamlPath, message: string): YamlIssue {
    return { file: this.file, line: this.lineOf(path), path: formatPath(path), message };
  }

  private lineAt(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  private index(): void {
    let events: Event[];
    try {
      events = parseEvents(this.text, {});
    } catch {
      return;
    }
    type Frame = { kind: 'map' | 'seq'; path: (string | number)[]; next: number; key?: string; expectKey: boolean };
    const stack: Frame[] = [];
    let docs = 0;
    // Where the node about to be read belongs, and records its line.
    const place = (offset: number): (string | number)[] | null => {
      const top = stack[stack.length - 1];
      if (!top) return [];
      if (top.kind === 'seq') {
        const p = [...top.path, top.next++];
        this.lines.set(JSON.stringify(p), this.lineAt(offset));
        return p;
      }
      return [...top.path, top.key ?? ''];
    };
    for (const ev of events) {
      if (ev.type === EV.DOCUMENT) {
        if (++docs > 1) break;
        continue;
      }
      const top = stack[stack.length - 1];
      if (ev.type === EV.SCALAR && top?.kind === 'map' && top.expectKey) {
        top.key = getScalarValue(this.text, ev);
        top.expectKey = false;
        this.lines.set(JSON.stringify([...top.path, top.key]), this.lineAt(ev.valueStart));
        continue;
      }
      if (ev.type === EV.POP) {
        stack.pop();
        const parent = stack[stack.length - 1];
        if (parent?.kind === 'map') parent.expectKey = true;
        continue;
      }
      if (top?.kind === 'map' && top.expectKey) {
        // complex (non-scalar) key: not addressable by a string path; skip its subtree
        top.key = '?';
        top.expectKey = false;
      }
      if (ev.type === EV.MAPPING || ev.type === EV.SEQUENCE) {
        const path = place(ev.start) ?? [];
        if (stack.length === 0) this.lines.set('[]', this.lineAt(ev.start));
        stack.push({ kind: ev.type === EV.MAPPING ? 'map' : 'seq', path, next: 0, expectKey: true });
        continue;
      }
      // scalar or alias value
      if (ev.type === EV.SCALAR) place(ev.valueStart);
      else place(ev.anchorStart >= 0 ? ev.anchorStart : 0);
      if (top?.kind === 'map') top.expectKey = true;
    }
  }
}

/** Parse YAML text; YAML syntax errors become one located issue. Empty documents parse to undefined. */
export function parseYaml(text: string, file: string): YamlSource {
  if (text.trim() === '' || /^\s*(#.*\s*)*$/.test(text)) return new YamlSource(text, file, undefined);
  try {
    return new YamlSource(text, file, load(text, { filename: file }));
  } catch (err) {
    if (err instanceof YAMLException) {
      const line = err.mark ? err.mark.line + 1 : 1;
      throw new YamlValidationError([{ file, line, path: '', message: `YAML syntax error: ${err.reason}` }]);
    }
    throw err;
  }
}

export function readYamlFile(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new YamlValidationError([{ file, line: 0, path: '', message: `cannot read file: ${(err as Error).message}` }]);
  }
  return parseYaml(text, file);
}

/** Turn zod issues into located YAML issues (one per problem, in document order). */
export function zodIssues(src: YamlSource, issues: readonly z.core.$ZodIssue[], schema?: z.ZodType): YamlIssue[] {
  const out = issues.map((i) => {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (i.code === 'unrecognized_keys') {
      const allowed = schema ? objectKeysAt(schema, path) : undefined;
      const hint = allowed ? ` (allowed: ${allowed.join(', ')})` : '';
      return i.keys.map((k) => src.issue([...path, k], `unknown key${hint}`));
    }
    return [src.issue(path, describeZodIssue(i))];
  });
  return out.flat().sort((a, b) => a.line - b.line);
}

/** The keys an object schema allows at `path`, looking through defaults, optionals and arrays. */
function objectKeysAt(schema: z.ZodType, path: ReadonlyArray<string | number>): string[] | undefined {
  let node: unknown = schema;
  const unwrap = (n: unknown): unknown => {
    for (let i = 0; i < 20; i++) {
      const def = (n as { _zod?: { def?: { innerType?: unknown; in?: unknown; type?: string } } })?._zod?.def;
      if (!def) return n;
      if (def.innerType) n = def.innerType;
      // a pipe is either schema → transform (look at its input) or preprocess → schema (look at its output)
      else if (def.type === 'pipe' && def.in) n = (def.in as { _zod?: { def?: { type?: string } } })._zod?.def?.type === 'transform' ? (def as { out?: unknown }).out : def.in;
      else return n;
    }
    return n;
  };
  for (const p of [...path, null]) {
    node = unwrap(node);
    const def = (node as { _zod?: { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } } })?._zod?.def;
    if (!def) return undefined;
    if (p === null) return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
    if (typeof p === 'number' && def.type === 'array') node = def.element;
    else if (typeof p === 'string' && def.type === 'object' && def.shape) node = def.shape[p];
    else if (typeof p === 'string' && def.type === 'record') node = (def as { valueType?: unknown }).valueType;
    else return undefined;
  }
  return undefined;
}

function describeZodIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_value' && 'values' in i) return `expected one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return i.message;
}

/**
 * Parse and validate a YAML file against a zod schema. An empty file is validated as `{}` so a
 * schema with defaults yields the defaults. `value` replaces the parsed value (e.g. after environment
 * interpolation) while issues are still located in `src`. Throws YamlValidationError listing every problem.
 */
export function validateYaml<S extends z.ZodType>(src: YamlSource, schema: S, value: unknown = src.value): z.output<S> {
  const input = value === undefined || value === null ? {} : value;
  const result = schema.safeParse(input);
  if (!result.success) throw new YamlValidationError(zodIssues(src, result.error.issues, schema));
  return result.data;
}

export function loadYamlFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  return validateYaml(readYamlFile(file), schema);
}
