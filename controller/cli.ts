import { createHash } from 'node:crypto';
import { CliError, type RegisterCommands } from '../cli/registry';
import { loadConfig } from '../app/config';
import { programConfig } from '../app/config-commands';
import { log } from '../lib/log';
import { startApplication } from './app';
import { productModules } from '../app/modules';

/** A message that starts with the setting at fault, e.g. `store.uri: …`, `redis.url/redis.tls: …`, `controller.tls: …`. */
const SETTING_ERROR = /^[a-z]+(\.[A-Za-z_]+)+(\/[a-z]+(\.[A-Za-z_]+)*)*: /;

/** How long shutdown may take beyond ingest.shutdownGraceMs before the process exits regardless. */
const SHUTDOWN_BOUND_MS = 10_000;

export const register: RegisterCommands = (program) => {
  program
    .command('serve')
    .description('run the system controller: HTTP ingestion (POST /v1/samples), the Kafka consumer when kafka.enabled, and every component API; GET /openapi.json describes the routes')
    .option('--port <port>', 'override controller.port', (v) => Number(v))
    .option('--kafka', 'run the Kafka consumer even if kafka.enabled is false')
    .action(async (opts: { port?: number; kafka?: boolean }) => {
      const config = programConfig(program);
      if (opts.port !== undefined) config.controller.port = opts.port;
      let app: Awaited<ReturnType<typeof startApplication>>;
      try {
        app = await startApplication({ config, log, modules: productModules, kafka: opts.kafka || config.kafka.enabled });
      } catch (err) {
        // a start-up check that names its setting (store.uri: …, kafka.ssl: …, controller.tls.cert: …) is the whole message: no stack trace
        const message = (err as Error).message ?? String(err);
        if (SETTING_ERROR.test(message)) throw new CliError(message, 1);
        throw err;
      }
      log.info({ url: app.url, tokens: config.controller.auth.tokens.map((t) => t.name) }, 'controller listening');
      if (config.controller.auth.tokens.length === 0) log.warn('no tokens configured (controller.auth.tokens): every authenticated route answers 401');
      // SIGHUP: rotate tokens, client principals and the TLS certificate from the (edited) file, no restart
      const reload = () => {
        try {
          const next = loadConfig(program.opts<{ config?: string }>().config);
          app.app.reloadSecurity(next, 'SIGHUP').catch((err: Error) => log.error({ err: err.message }, 'reload refused: keeping the previous security settings'));
        } catch (err) {
          log.error({ err: (err as Error).message }, 'reload refused: the configuration does not validate; keeping the previous settings');
        }
      };
      process.on('SIGHUP', reload);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.off('SIGHUP', reload);
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

  program
    .command('token')
    .description('API token helpers')
    .command('hash')
    .description('print sha256:<hex> of a token read from stdin, for controller.auth.tokens[].token: the configuration then never holds the token itself')
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const token = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      if (token.length < 16) throw new CliError('token hash: give the token on stdin (at least 16 characters), e.g. printf %s "$TOKEN" | metering token hash', 2);
      process.stdout.write(`sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}\n`);
    });
};
