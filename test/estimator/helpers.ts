import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sharedPath } from '../support/paths';
import { estimateStack, type EstimateInput } from '../../estimator/estimate';

export const HOT = (...p: string[]) => sharedPath('corpus', 'heat-templates', ...p);
export const CEILO = (...p: string[]) => sharedPath('corpus', 'ceilometer', ...p);
export const readFile = (f: string) => readFileSync(f, 'utf8');

/** Estimate a corpus template by path. */
export function estimateFile(file: string, extra: Partial<EstimateInput> = {}) {
  return estimateStack({ template: { text: readFile(file), file }, readFile, ...extra });
}

/** An in-memory file system for synthetic templates: absolute path → text. */
export function memFiles(dir: string, files: Record<string, string>) {
  const abs = Object.fromEntries(Object.entries(files).map(([k, v]) => [path.resolve(dir, k), v]));
  return (f: string) => {
    const t = abs[path.resolve(f)];
    if (t === undefined) throw new Error(`ENOENT: ${f}`);
    return t;
  };
}
