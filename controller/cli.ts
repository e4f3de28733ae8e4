import type { RegisterCommands } from '../cli/registry';
import { loadConfig } from '../config/load';
import { log } from '../lib/log';
import { startApplication } from './app';
import { productModules } from './modules';

/** How long shutdown may take beyond ingest.shutdownGraceMs before the process exits regardless. */
const SHUTDOWN_BOUND_MS = 10_000;

export const register: RegisterCommands = (program) => {
  program
    .command('serve')
    .description('run the system controller: HTTP ingestion (POST /v1/samples), the Kafka consumer when kafka.enabled, and every component API; GET /openapi.json describes the routes')
    .option('--port <port>', 'override controller.port', (v) => Number(v))
    .option('--kafka', 'run the Kafka consumer even if kafka.enabled is false')
    .action(async (opts: { port?: number; kafka?: boolean }) => {
      const config = loadConfig(program.opts<{ config?: string }>().config);
      if (opts.port !== undefined) config.controller.port = opts.port;
      const app = await startApplication({ config, log, modules: productModules, kafka: opts.kafka || config.kafka.enabled });
      log.info({ url: app.url, tokens: config.controller.auth.tokens.map((t) => t.name) }, 'controller listening');
      if (config.controller.auth.tokens.length === 0) log.warn('no tokens configured (controller.auth.tokens): every authenticated route answers 401');
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      log.info('shutting down: finishing accepted work');
      // Shutdown always completes: ingestion gives up after ingest.shutdownGraceMs; anything else that
      // still hangs (a dependency that stopped answering) gets SHUTDOWN_BOUND_MS more, then the process exits.
      const boundMs = config.ingest.shutdownGraceMs + SHUTDOWN_BOUND_MS;
      const bound = setTimeout(() => {
        log.error({ boundMs }, 'shutdown did not complete within ingest.shutdownGraceMs + 10 s: exiting anyway');
        process.exit(1);
      }, boundMs);
      bound.unref();
      await app.close();
      clearTimeout(bound);
    });
};
