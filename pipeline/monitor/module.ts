import type { AppModule, ModuleFactory } from '../../controller/app';
import { ConsumerLagReader } from './lag';
import { AcceptedLedger, ensureLedgerIndexes } from './ledger';
import { PipelineMonitor } from './monitor';
import { monitorRoutes } from './routes';

/**
 * The pipeline watching itself as part of the running product: its metrics in /metrics, the
 * freshness observer and the reconciliation ledger on the interception hook, the consumer-lag reader
 * when Kafka runs, and the /v1/pipeline/* routes.
 */
export const monitorModule: ModuleFactory = async (svc): Promise<AppModule> => {
  const config = svc.config.monitor;
  const log = svc.log.child({ component: 'pipeline-monitor' });
  const lag = svc.kafka ? new ConsumerLagReader(svc.kafka, svc.config.kafka.groupId, svc.config.kafka.topics, config.lagCacheSeconds) : undefined;
  if (config.ledger) await ensureLedgerIndexes(svc.db, config.ledgerRetentionDays);
  const ledger = config.ledger ? new AcceptedLedger(svc.db, log) : undefined;
  ledger?.start(config.ledgerFlushMs);
  const monitor = new PipelineMonitor(svc.metrics.registry, config, lag, ledger);
  return {
    name: 'pipeline-monitor',
    observers: [monitor.freshness, ...(ledger ? [ledger] : [])],
    routes: [monitorRoutes({ monitor, db: svc.db, config: svc.config })],
    started: (_modules, ingestion) => monitor.attach(ingestion),
    async close() {
      // modules close after ingestion: every stored sample has been counted by now
      await ledger?.close().catch((err) => log.warn({ err: (err as Error).message, unflushed: ledger.unflushed }, 'ingest ledger: final flush failed'));
      await lag?.close();
    },
  };
};
