import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Ceilometer itself (from PyPI, pinned in services/ceilometer/requirements.txt) in the cached
 * virtualenv that scripts/ensure.mjs builds: the real client of the interop tests. The folder is
 * keyed by the requirements file's hash, exactly as ensure.mjs names it.
 */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CEILOMETER_REQUIREMENTS = path.join(REPO, 'services/ceilometer/requirements.txt');

export function ceilometerVenvDir(): string {
  if (process.env.METERING_CEILOMETER_VENV) return path.resolve(process.env.METERING_CEILOMETER_VENV);
  const cache = process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? os.homedir(), '.cache');
  const hash = createHash('sha256').update(readFileSync(CEILOMETER_REQUIREMENTS)).digest('hex').slice(0, 16);
  return path.join(cache, 'metering', `ceilometer-${hash}`);
}

/** The virtualenv's python, or an error saying how to get it. */
export function ceilometerPython(): { python: string } | { error: string } {
  const dir = ceilometerVenvDir();
  if (!existsSync(path.join(dir, '.complete'))) {
    return { error: `Ceilometer virtualenv not found in ${dir}: run node scripts/ensure.mjs (installs services/ceilometer/requirements.txt from PyPI)` };
  }
  return { python: path.join(dir, 'bin/python') };
}

export interface PythonResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a Python script (source text) in the Ceilometer virtualenv with `input` on stdin. */
export function runCeilometerPython(script: string, args: string[] = [], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<PythonResult> {
  const found = ceilometerPython();
  if ('error' in found) return Promise.reject(new Error(found.error));
  return new Promise((resolve, reject) => {
    const child = spawn(found.python, ['-c', script, ...args], {
      env: { ...process.env, PYTHONWARNINGS: 'ignore', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
