import pino, { type Logger } from 'pino';
import { redactSecrets, redactUrlCredentials } from '../config/secrets';

/**
 * One structured logger for the whole product (pino: JSON lines, fast, used by fastify too). Secrets
 * never reach a log line: Authorization headers are removed, every secret setting (config/secrets.ts)
 * in a logged object is replaced by <redacted>, and credentials in connection strings are masked, in
 * objects and in messages alike.
 */
export function createLogger(name: string, level = process.env.METERING_LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], remove: true },
    formatters: { log: (object) => redactSecrets(object) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === 'string' ? redactUrlCredentials(a) : a)) as Parameters<typeof method>;
        return method.apply(this, masked);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const log = createLogger('metering');
export type { Logger };
