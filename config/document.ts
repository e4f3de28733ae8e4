import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';

/** How to document a configuration: its header and where each section's schema (and its keys' doc comments) lives, relative to the repository. */
export interface ConfigDocumentation {
  /** Comment lines at the top of the file (each starting with `#`). */
  header: readonly string[];
  /** Top-level section → the file its schema is defined in. */
  sections: Readonly<Record<string, string>>;
  /** Nested sections (`ingest.udp`) whose schema lives in a file of its own. */
  subsections: Readonly<Record<string, string>>;
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Field name → its doc comment (first one wins), read from a schema source file. */
export function fieldComments(source: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*?)\*\/\s*\n\s*(?:'([^']+)'|"([^"]+)"|([A-Za-z_][\w]*))\s*:/g;
  for (const m of source.matchAll(re)) {
    const key = m[2] ?? m[3] ?? m[4]!;
    const text = m[1]!
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
    if (!out.has(key)) out.set(key, text);
  }
  return out;
}

function wrap(text: string, indent: string, width = 100): string[] {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && indent.length + 2 + line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => `${indent}# ${l}`);
}

/**
 * metering.yaml with every default spelled out and each key preceded by the comment from its schema.
 * Keys of maps whose entries are data (flavor names, meter names) carry no comment of their own.
 */
export function documentedConfig(defaults: Record<string, unknown>, doc: ConfigDocumentation, readSource = (f: string) => readFileSync(path.join(REPO, f), 'utf8')): string {
  const body: string[] = [];
  for (const [section, value] of Object.entries(defaults)) {
    const file = doc.sections[section];
    const comments = file ? fieldComments(readSource(file)) : new Map<string, string>();
    const text = dump({ [section]: value }, { lineWidth: 120, noRefs: true });
    const stack: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^(\s*)(?:- )?([A-Za-z_][\w.]*|'[^']*'):/.exec(line);
      if (m && !line.trimStart().startsWith('- ')) {
        const depth = m[1]!.length / 2;
        stack.length = depth;
        const key = m[2]!.replace(/^'|'$/g, '');
        stack.push(key);
        const sub = doc.subsections[stack.slice(0, depth).join('.')];
        const comment = depth === 0 ? undefined : (sub ? fieldComments(readSource(sub)) : comments).get(key);
        if (comment) body.push(...wrap(comment, m[1]!));
      }
      body.push(line);
    }
  }
  return [...doc.header, '', ...body].join('\n').replace(/\n+$/, '\n');
}
