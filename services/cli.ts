import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import {
  ServiceUnavailableError,
  ensureServices,
  servicesStatus,
  stopServices,
  type ServiceName,
  type ServicesRequest,
} from './manager';
import { probeMongo } from './mongo-probe';
import { SERVICE_NAMES } from './state';

function parseOnly(value: string | undefined): ServiceName[] {
  if (!value) return [...SERVICE_NAMES];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(SERVICE_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) throw new CliError(`--only: unknown service ${bad.join(', ')} (expected ${SERVICE_NAMES.join(', ')})`, 2);
  return names as ServiceName[];
}

/** `metering services up|down|status`: the real Kafka, Redis and MongoDB used by tests and the demo. */
export const register: RegisterCommands = (program) => {
  const services = program
    .command('services')
    .description('Local Kafka (KRaft), Redis, MongoDB and RabbitMQ on 127.0.0.1 for tests and the demo (state in .services/)');

  services
    .command('up')
    .description('start (or reuse) the services and print how to reach them')
    .option('--only <names>', 'comma-separated subset: kafka,redis,mongo,rabbitmq')
    .option('--json', 'print the connection info as JSON')
    .action(async (opts: { only?: string; json?: boolean }) => {
      const names = parseOnly(opts.only);
      const request: ServicesRequest = Object.fromEntries(names.map((n) => [n, true]));
      try {
        const info = await ensureServices(request, { startedBy: 'cli' });
        if (opts.json) {
          printJson(info);
          return;
        }
        if (info.mongodbUri) process.stdout.write(`MONGODB_URI=${info.mongodbUri}   (tier: ${info.mongoTier})\n`);
        if (info.kafkaBrokers) process.stdout.write(`KAFKA_BROKERS=${info.kafkaBrokers.join(',')}\n`);
        if (info.redisUrl) process.stdout.write(`REDIS_URL=${info.redisUrl}\n`);
        if (info.amqpUrl) process.stdout.write(`AMQP_URL=${info.amqpUrl}\n`);
        process.stdout.write(info.started.length > 0 ? `started: ${info.started.join(', ')}\n` : 'all already running\n');
      } catch (err) {
        if (err instanceof ServiceUnavailableError) throw new CliError(err.message, 1);
        throw err;
      }
    });

  services
    .command('down')
    .description('stop the services this checkout started (external ones are left alone)')
    .option('--only <names>', 'comma-separated subset: kafka,redis,mongo,rabbitmq')
    .option('--json', 'print the stopped services as JSON')
    .action(async (opts: { only?: string; json?: boolean }) => {
      const stopped = await stopServices(parseOnly(opts.only));
      if (opts.json) printJson({ stopped });
      else process.stdout.write(stopped.length > 0 ? `stopped: ${stopped.join(', ')}\n` : 'nothing was running\n');
    });

  services
    .command('probe-mongo')
    .description('try the MongoDB features the product uses against the current MongoDB (either tier) and list what works')
    .option('--json', 'print one JSON object per feature')
    .action(async (opts: { json?: boolean }) => {
      let info;
      try {
        info = await ensureServices({ mongo: true }, { startedBy: 'cli' });
      } catch (err) {
        if (err instanceof ServiceUnavailableError) throw new CliError(err.message, 1);
        throw err;
      }
      const results = await probeMongo(info.mongodbUri!);
      if (opts.json) {
        for (const r of results) printJson({ tier: info.mongoTier, ...r });
        return;
      }
      process.stdout.write(`MongoDB tier: ${info.mongoTier} (${info.mongodbUri})\n`);
      for (const r of results) process.stdout.write(`${r.ok ? 'ok     ' : 'MISSING'}  ${r.feature}: ${r.detail}\n`);
    });

  services
    .command('status')
    .description('each service: state, address, tier, pid, healthy or not')
    .option('--json', 'print one JSON object per service')
    .action(async (opts: { json?: boolean }) => {
      const all = await servicesStatus();
      if (opts.json) {
        for (const s of all) printJson(s);
        return;
      }
      const rows = all.map((s) => [
        s.service,
        s.state,
        s.address ?? '-',
        s.tier ?? (s.service === 'mongo' && s.state !== 'stopped' ? '?' : '-'),
        s.pid ? String(s.pid) : '-',
        s.state === 'stopped' ? '-' : s.healthy ? 'healthy' : 'UNHEALTHY',
      ]);
      const header = ['SERVICE', 'STATE', 'ADDRESS', 'TIER', 'PID', 'HEALTH'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows]) {
        process.stdout.write(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
      }
    });
};
