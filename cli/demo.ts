import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestCa, writePem } from '../lib/certs';
import pino from 'pino';
import type { RegisterCommands } from './registry';
import { CliError } from './registry';
import { loadConfig } from '../app/config';
import { startApplication } from '../controller/app';
import { createKafka } from '../pipeline/kafka/client';
import { CEILOMETER_DEFAULT_SECRET } from '../pipeline/replay/encode';
import { productModules } from '../app/modules';
import { ensureServices, type ServiceName } from '../services/manager';
import { controllerCaller, type DemoContext, type DemoStep } from './demo-context';
import { demoSteps } from './demo-steps';
import type { JobsModule } from '../billing/jobs/module';
import { QUEUES } from '../billing/jobs/queues';

const SERVICE_HELP: Record<ServiceName, string> = {
  mongo: 'set MONGODB_URI=mongodb://host:port (or MONGO_BIN_DIR=/path/to/mongodb/bin) or run `node scripts/ensure.mjs` to fetch the stand-in',
  kafka: 'set KAFKA_BROKERS=host:port or run `node scripts/ensure.mjs` (needs Java 17 and Maven)',
  redis: 'set REDIS_URL=redis://host:port or `apt-get install redis-server`',
  rabbitmq: 'set AMQP_URL=amqp://user:password@host:port or `apt-get install rabbitmq-server`',
};

/** The demo's own topics go when it ends (best effort: a broker that went away keeps them). */
async function deleteTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = createKafka({ brokers, clientId: 'metering-demo' }).admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics, timeout: 5000 });
  } catch {
    // leftovers are harmless: every run uses topics of its own
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function findShared(): string | undefined {
  const candidates = [process.env.METERING_SHARED_DIR, path.resolve('../shared'), path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../shared')];
  return candidates.find((c): c is string => !!c && existsSync(path.join(c, 'data')));
}

/** The demo's TLS material: a CA made for this run and a certificate for 127.0.0.1/localhost signed by it. */
function demoCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = new TestCa('metering demo CA');
  mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.crt');
  writeFileSync(caFile, ca.cert);
  const server = writePem(dir, 'controller', ca.server('localhost'));
  return { ca: caFile, ...server };
}

export async function runDemo(opts: { configFile?: string; out: string; tls?: boolean; serve?: boolean }): Promise<{ failed: string[] }> {
  const say = (line: string) => process.stdout.write(line + '\n');
  const t0 = Date.now();
  say('== Metering pipeline demo ==');
  say('1. Services (real Kafka, Redis, MongoDB and RabbitMQ on 127.0.0.1; started if not running)');
  const services = await ensureServices(undefined, { startedBy: 'demo', tolerateFailures: true });
  for (const name of ['mongo', 'kafka', 'redis', 'rabbitmq'] as const) {
    const err = services.errors[name];
    const where = name === 'mongo' ? `${services.mongodbUri} (tier: ${services.mongoTier === 'real' ? 'real mongod' : 'wire-protocol stand-in'})` : name === 'kafka' ? services.kafkaBrokers?.join(',') : name === 'rabbitmq' ? services.amqpUrl : services.redisUrl;
    say(err ? `   ✗ ${name}: ${err}\n     → ${SERVICE_HELP[name]}` : `   ✓ ${name}: ${where}`);
  }
  if (!services.mongodbUri) throw new CliError(`the demo needs MongoDB: ${SERVICE_HELP.mongo}`, 1);

  const config = loadConfig(opts.configFile, { ...process.env, MONGODB_URI: services.mongodbUri, ...(services.kafkaBrokers ? { KAFKA_BROKERS: services.kafkaBrokers.join(',') } : {}), ...(services.redisUrl ? { REDIS_URL: services.redisUrl } : {}) });
  const run = randomBytes(3).toString('hex');
  const token = `demo-${randomBytes(12).toString('hex')}`;
  const secret = config.ingest.telemetrySecret || CEILOMETER_DEFAULT_SECRET;
  config.ingest.telemetrySecret = secret;
  config.store.database = `metering_demo_${run}`;
  // job ids are deterministic per period: a queue prefix of its own keeps an earlier run's finished jobs (same periods) from answering for this run's
  config.redis.prefix = `metering-demo-${run}`;
  config.controller.port = 0;
  config.controller.auth.tokens = [{ name: 'demo', token, roles: ['admin'] }];
  const tlsDir = process.env.METERING_DEMO_TLS_DIR;
  if (opts.tls && tlsDir) {
    config.controller.tls = { ...config.controller.tls, cert: path.join(tlsDir, 'controller.crt'), key: path.join(tlsDir, 'controller.key'), clientAuth: 'none', watch: false };
  }
  config.agent.controller.channel_prefix = `metering-agent-demo-${run}`; // demos on one machine and Redis do not answer for each other
  if (services.mongoTier === 'standin') config.store.writeConcern = 1; // a standalone has no majority; production default stays majority
  const useKafka = !!services.kafkaBrokers;
  if (useKafka) {
    config.kafka.brokers = services.kafkaBrokers!;
    config.kafka.topics = [`demo-${run}.ceilometer`, `demo-${run}.metering.sample`];
    config.kafka.groupId = `demo-${run}`;
    // the HTTP chapter reports what each request stored (and that a resend stores nothing twice), so the
    // demo writes to the store before answering; `log` acceptance is covered by docs/ingestion.md and the tests
    config.ingest.acceptance = 'store';
  }
  if (services.amqpUrl) {
    // Ceilometer's notifier:// over RabbitMQ: a topic of this run's own (queue demo-<run>.sample)
    config.amqp = { ...config.amqp, enabled: true, url: services.amqpUrl, topics: [`demo-${run}`] };
  }

  say('2. Controller (HTTP ingestion, Kafka consumer, component APIs)');
  const app = await startApplication({ config, log: pino({ level: process.env.METERING_LOG_LEVEL ?? 'warn' }), modules: productModules, kafka: useKafka });
  const ready = await app.app.inject({ method: 'GET', url: '/readyz' });
  if (opts.tls) say(`   TLS on: HTTPS only, certificate ${config.controller.tls.cert} from the demo's own CA ${path.join(tlsDir ?? '', 'ca.crt')} (clients trust it through NODE_EXTRA_CA_CERTS); Kafka and Redis over TLS are shown by the test suite (docs/security.md)`);
  say(`   listening on ${app.url}; readiness ${ready.statusCode === 200 ? 'ready' : 'NOT ready'}: ${JSON.stringify(ready.json().checks)}`);
  say(`   store: database ${config.store.database}, write concern ${config.store.writeConcern}, indexes ${app.ingestion.indexes ? 'ensured' : '?'}`);

  mkdirSync(opts.out, { recursive: true });
  const ctx: DemoContext = { config, app, url: app.url!, token, secret, services, outDir: path.resolve(opts.out), shared: findShared(), call: controllerCaller(app, token), say: (l) => say(`   ${l}`), state: new Map() };
  const failed: string[] = [];
  try {
    let n = 3;
    for (const step of demoSteps as DemoStep[]) {
      say(`${n++}. ${step.title}`);
      const missing = (step.needs ?? []).filter((s) => (s === 'kafka' ? !services.kafkaBrokers : !services.redisUrl));
      if (missing.length) {
        say(`   skipped: needs ${missing.join(', ')} (${missing.map((m) => SERVICE_HELP[m]).join('; ')})`);
        continue;
      }
      const ts = Date.now();
      try {
        await step.run(ctx);
        say(`   (${((Date.now() - ts) / 1000).toFixed(1)} s)`);
      } catch (err) {
        failed.push(step.title);
        say(`   ✗ failed: ${(err as Error).message}`);
      }
    }
    say(`== done in ${((Date.now() - t0) / 1000).toFixed(1)} s${failed.length ? `; ${failed.length} step(s) failed: ${failed.join('; ')}` : '; every step succeeded'}. Reports and plots: ${path.relative(process.cwd(), opts.out) || '.'} ==`);
    say(`== operator console: ${app.url}/ui/  sign in with the API token: ${token} ==`);
    if (opts.serve) {
      say('   the controller keeps running with the demo data; Ctrl-C ends it (and drops the demo database)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    } else say('   (closing now: `npm start` keeps the controller running so the console can be opened)');
  } finally {
    const jobs = app.modules.find((m) => m.name === 'jobs') as JobsModule | undefined;
    for (const q of QUEUES) await jobs?.runtime.queues?.[q].obliterate({ force: true }).catch(() => undefined);
    await app.services.db.dropDatabase().catch(() => undefined);
    await app.close();
    if (useKafka) await deleteTopics(config.kafka.brokers, config.kafka.topics);
  }
  return { failed };
}

export const register: RegisterCommands = (program) => {
  program
    .command('demo')
    .description('end-to-end demo on embedded defaults: start the services and the controller, replay real VM traces through ingestion, profile, estimate a Heat stack and compare with what was stored, replay a load spike through the autoscaler, rate usage and print an invoice')
    .option('--out <dir>', 'where reports and plots go', 'out/demo')
    .option('--serve', 'after the story, keep the controller and the console running until Ctrl-C (npm start)')
    .option('--tls', 'run the controller over HTTPS with a CA and certificate made for this run (written to <out>/tls)')
    .action(async (opts: { out: string; tls?: boolean; serve?: boolean }) => {
      if (opts.tls && !process.env.METERING_DEMO_TLS_DIR) {
        // the demo's HTTP clients (fetch) must trust the run's CA: node reads NODE_EXTRA_CA_CERTS at start-up only,
        // so the demo runs again in a child process that has it
        const dir = path.resolve(opts.out, 'tls');
        const files = demoCertificates(dir);
        process.stdout.write(`TLS: made a CA and a controller certificate in ${path.relative(process.cwd(), dir)}; running the demo with HTTPS\n`);
        const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/metering.mjs');
        const args = [bin, ...(program.opts<{ config?: string }>().config ? ['--config', program.opts<{ config?: string }>().config!] : []), 'demo', '--tls', ...(opts.serve ? ['--serve'] : []), '--out', opts.out];
        const child = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: files.ca, METERING_DEMO_TLS_DIR: dir } });
        process.exitCode = child.status ?? 1;
        return;
      }
      const { failed } = await runDemo({ configFile: program.opts<{ config?: string }>().config, out: opts.out, tls: opts.tls, serve: opts.serve });
      if (failed.length) process.exitCode = 1;
    });
};
