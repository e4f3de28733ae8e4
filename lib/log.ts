import pino, { type Logger } from 'pino';

/** One structured logger for the whole product (pino: JSON lines, fast, used by fastify too). */
export function createLogger(name: string, level = process.env.METERING_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: ['req.headers.authorization', 'headers.authorization'], remove: true } });
}

export const log = createLogger('metering');
export type { Logger };
