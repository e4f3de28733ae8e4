import type { TestProject } from 'vitest/node';
import {
  acquireLease,
  ensureServices,
  releaseLease,
  stopServices,
  type ServiceName,
  type ServicesRequest,
} from '../../services/manager';
import { SERVICE_NAMES } from '../../services/state';
import type { ProvidedServices } from './services';

const ALL: readonly ServiceName[] = SERVICE_NAMES;

/** METERING_TEST_SERVICES: unset or "all" → all three; "none" → none; else a comma list. */
function requestedServices(): ServiceName[] {
  const raw = (process.env.METERING_TEST_SERVICES ?? 'all').trim();
  if (raw === '' || raw === 'all') return [...ALL];
  if (raw === 'none') return [];
  const names = raw.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !(ALL as string[]).includes(n));
  if (bad.length > 0) throw new Error(`METERING_TEST_SERVICES: unknown service ${bad.join(', ')} (expected ${ALL.join(', ')}, all or none)`);
  return names as ServiceName[];
}

/**
 * Vitest globalSetup: start (or reuse) the real services once for the whole run, hand their
 * addresses to the test files (provide → inject), and at the end stop what test runs started,
 * unless another test run on this checkout is still using them (leases in .services/leases).
 * A service that cannot be had does not stop the run: the tests that need it fail with the
 * reason (test/support/services.ts), the others run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const names = requestedServices();
  const provided: ProvidedServices = { errors: {}, requested: names };
  if (names.length > 0) {
    acquireLease();
    const started = Date.now();
    const request: ServicesRequest = Object.fromEntries(names.map((n) => [n, true]));
    const info = await ensureServices(request, { startedBy: 'tests', tolerateFailures: true });
    Object.assign(provided, {
      mongodbUri: info.mongodbUri,
      mongoTier: info.mongoTier,
      kafkaBrokers: info.kafkaBrokers,
      redisUrl: info.redisUrl,
      amqpUrl: info.amqpUrl,
      errors: info.errors,
    });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const reused = names.filter((n) => !info.started.includes(n) && !info.errors[n]);
    process.stderr.write(
      `[services] ready in ${secs} s: started ${info.started.join(', ') || 'none'}; reused ${reused.join(', ') || 'none'}` +
        (info.mongoTier ? `; MongoDB tier: ${info.mongoTier}` : '') + '\n',
    );
    for (const [name, message] of Object.entries(info.errors)) {
      process.stderr.write(`[services] ${name} UNAVAILABLE (tests that need it will fail): ${message}\n`);
    }
  }
  project.provide('services', provided);

  return async () => {
    if (names.length === 0) return;
    const stillUsed = releaseLease();
    if (stillUsed > 0 || process.env.METERING_KEEP_SERVICES === '1') return;
    await stopServices(names, 'tests');
  };
}
