import { readFileSync } from 'node:fs';

/** The text of a file a setting names (PEM certificates, keys, CAs), or an Error naming the setting; undefined when unset. */
export function readSettingFile(file: string | undefined, setting: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}
