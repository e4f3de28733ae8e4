import { readFileSync } from 'node:fs';
import pino from 'pino';
import { parseConfig, type MeteringConfig } from '../../../app/config';
import { parseBitbrains, traceVmName } from '../../../profiler/bitbrains';
import { TraceSampler } from '../../../profiler/trace-samples';
import type { Sample } from '../../../pipeline/sample';
import { sharedPath } from '../../support/paths';
import { testIngestConfig, testStoreConfig } from '../ingest/helpers';

/** Two real Bitbrains traces (VMs 27 and 41). */
export const TRACE_FILES = [sharedPath('data', 'traces', 'bitbrains-rnd', '27.csv'), sharedPath('data', 'traces', 'bitbrains-rnd', '41.csv')];
export const INGEST_TOKEN = 'replay-ingest-token-0123456789';
export const log = pino({ level: 'silent' });

/** What the profiler's sampler makes of the first `rows` rows of each file, computed independently of the replayer. */
export function expectedSamples(files: readonly string[], rows: number): Sample[] {
  const out: Sample[] = [];
  for (const f of files) {
    const sampler = new TraceSampler(traceVmName(f));
    for (const row of parseBitbrains(readFileSync(f, 'utf8'), f).slice(0, rows)) out.push(...sampler.samples(row));
  }
  return out;
}

/** A full product configuration for a test app on a free port, store on the run's MongoDB. */
export function appConfig(database: string, ingest: Record<string, unknown> = {}, kafka?: Record<string, unknown>): MeteringConfig {
  const cfg = {
    controller: { port: 0, auth: { tokens: [{ name: 'ceilometer', token: INGEST_TOKEN, roles: ['ingest'] }] } },
    store: testStoreConfig(database),
    ingest: testIngestConfig(ingest),
    ...(kafka ? { kafka } : {}),
  };
  return parseConfig(JSON.stringify(cfg), 'replay-test.yaml', {});
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
