import { parseYaml, YamlValidationError, type YamlSource } from '../../config/yaml-source';

/**
 * Parse a HOT template. Heat uses PyYAML, which accepts a flow collection whose closing `]`/`}`
 * sits at or left of its key's indentation (two corpus templates do this); js-yaml rejects it as
 * "deficient indentation". Such a closing line is re-indented (spaces only, so line numbers stay)
 * and a warning names the place. Any other syntax error stays a located error.
 */
export function parseHot(text: string, file: string): { src: YamlSource; warnings: string[] } {
  const warnings: string[] = [];
  let cur = text;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      return { src: parseYaml(cur, file), warnings };
    } catch (err) {
      if (!(err instanceof YamlValidationError)) throw err;
      const issue = err.issues[0]!;
      if (!/deficient indentation/.test(issue.message)) throw err;
      const lines = cur.split('\n');
      const idx = issue.line - 1;
      const line = lines[idx];
      if (line === undefined || !/^\s*[\]}][\s,\]}]*(#.*)?$/.test(line)) throw err;
      lines[idx] = ' '.repeat(64) + line;
      cur = lines.join('\n');
      warnings.push(`${file}:${issue.line}: flow collection closed at deficient indentation (PyYAML/Heat accept it, strict YAML does not); read as if indented`);
    }
  }
  throw new YamlValidationError([{ file, line: 1, path: '', message: 'too many indentation problems' }]);
}
