import { existsSync } from 'node:fs';
import { Counter } from 'prom-client';
import { leadershipOf } from '../cluster/leadership';
import { controllerId } from '../cluster/module';
import type { AppModule, ModuleFactory } from '../controller/app';
import { AlertStore, type AlertEvent } from './alerts';
import { ClusterEvaluator, readLive } from './cluster-evaluator';
import { readLicenses, type License } from './license';
import { ComplianceMonitor } from './monitor';
import { LicenseRepository, type LicenseRecord } from './repository';
import { complianceRoutes } from './routes';
import { loadFactsAt, newestSampleTime } from './store-reader';
import { WebhookSender } from './webhook';

/**
 * Licence compliance as part of the running product: licence records in the store (the licence file
 * recorded at start), the rules on the live sample stream (`ComplianceMonitor` on the ingestion hook),
 * alerts persisted in `compliance_alerts` and sent to the optional webhook, counters at /metrics, and
 * the routes `/v1/licenses…` and `/v1/compliance…`.
 */
export interface ComplianceModule extends AppModule {
  monitor: ComplianceMonitor;
  licenses: LicenseRepository;
  alerts: AlertStore;
  webhook: WebhookSender;
  /** Resolves once the licence file is recorded and the warm start has read the store. */
  ready: Promise<void>;
  /** Record a licence (new id or new version) and apply it to the live rules at once. */
  record(license: License, by: string): Promise<{ record: LicenseRecord; created: boolean }>;
  /** Re-read the licence records from the store into the live rules. */
  refresh(): Promise<void>;
  /** Evaluate now and wait until the alerts are stored and the webhook queue is empty. */
  flush(): Promise<void>;
}

export const complianceModule: ModuleFactory = async (svc): Promise<AppModule> => {
  const config = svc.config.compliance;
  if (!config.enabled) return { name: 'compliance' };
  const log = svc.log.child({ component: 'compliance' });
  const licenses = new LicenseRepository(svc.db);
  const alerts = new AlertStore(svc.db);
  await licenses.ensureIndexes();
  await alerts.ensureIndexes();
  const webhook = new WebhookSender(config.webhook, log);

  const alertCounter = new Counter({
    name: 'metering_compliance_alerts_total',
    help: 'licence compliance alerts raised (event="opened") and resolved (event="resolved"), by violation kind',
    labelNames: ['event', 'kind'],
    registers: [svc.metrics.registry],
  });
  let persistFailures = 0;
  let persisting: Promise<void> = Promise.resolve();
  const onEvents = (events: AlertEvent[]) => {
    for (const ev of events) {
      alertCounter.inc({ event: ev.event, kind: ev.alert.kind });
      log.info({ event: ev.event, alert: ev.alert.id, actual: ev.alert.actual }, `compliance alert ${ev.event}: ${ev.alert.kind} ${ev.alert.license_id ?? '-'} ${ev.alert.resource_id ?? ''}`);
      // stored in order, one after the other; a failed write is logged and counted, the live state stays right
      persisting = persisting.then(() =>
        alerts.apply(ev).catch((err) => {
          persistFailures++;
          log.warn({ alert: ev.alert.id, err: (err as Error).message }, 'compliance alert not stored');
        }),
      );
      webhook.send(ev);
    }
  };
  // Many controllers (cluster.enabled): the holder of the `compliance` lease evaluates from the store
  // for the whole cluster (docs/compliance.md "Many controllers"); the live stream is not evaluated here.
  const leadership = leadershipOf(svc, 'compliance');
  const evaluator = leadership.clustered
    ? new ClusterEvaluator({
        db: svc.db,
        leadership,
        controller: controllerId(svc.config.cluster),
        licenses,
        alerts,
        activeWindowS: config.active_window_s,
        maxFutureSkewS: config.max_future_skew_s,
        intervalMs: config.cluster_evaluate_interval_ms,
        log,
        onEvents: (events) => {
          for (const ev of events) {
            alertCounter.inc({ event: ev.event, kind: ev.alert.kind });
            log.info({ event: ev.event, alert: ev.alert.id, actual: ev.alert.actual }, `compliance alert ${ev.event}: ${ev.alert.kind} ${ev.alert.license_id ?? '-'} ${ev.alert.resource_id ?? ''}`);
            webhook.send(ev);
          }
        },
      })
    : undefined;
  const monitor = new ComplianceMonitor({ activeWindowS: config.active_window_s, evaluateIntervalMs: config.evaluate_interval_ms, maxFutureSkewS: config.max_future_skew_s, maxResources: config.max_resources, log, onEvents });

  let current = '';
  const refresh = async () => {
    const records = await licenses.latest();
    const signature = records.map((r) => `${r.id}#${r.version}`).join(',');
    if (signature !== current) {
      current = signature;
      monitor.setLicenses(records.map((r) => r.license));
    }
  };

  // The licence file, in file order: a licence new or changed in the file becomes a new version; one the
  // file still has as it recorded it last is left alone (a version POSTed since stands).
  if (existsSync(config.licenses_file)) {
    const list = readLicenses(config.licenses_file);
    let created = 0;
    for (const l of list) if ((await licenses.recordFrom(l, `file:${config.licenses_file}`)).created) created++;
    log.info({ file: config.licenses_file, licenses: list.length, new_versions: created }, `compliance: ${list.length} licences in ${config.licenses_file}, ${created} new versions recorded`);
  } else {
    log.info({ file: config.licenses_file }, 'compliance: no licence file; licences come from POST /v1/licenses');
  }
  await refresh();
  if (!evaluator) monitor.tracker.restore(await alerts.open());

  monitor.hold();
  const ready = (async () => {
    try {
      if (!config.warm_start || evaluator) return;
      const newest = await newestSampleTime(svc.db);
      if (!newest) return;
      const at = new Date(Math.min(newest.getTime(), Date.now() + config.max_future_skew_s * 1000));
      const index = await loadFactsAt(svc.db, at, config.active_window_s, { index: monitor.index });
      monitor.advance(at);
      log.info({ at: at.toISOString(), resources: index.size }, `compliance: warm start from the store's window before ${at.toISOString()} (${index.size} resources)`);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'compliance: warm start failed; the live rules start from the incoming samples');
    } finally {
      monitor.release();
    }
  })();

  const refreshTimer = setInterval(() => {
    refresh().catch((err) => log.warn({ err: (err as Error).message }, 'compliance: licence refresh failed'));
  }, config.licenses_refresh_s * 1000);
  refreshTimer.unref();
  evaluator?.start();

  svc.metrics.registerSnapshot('licence compliance: samples seen by the live rules, evaluations, open alerts, unverified instances, webhook deliveries', () => {
    const s = monitor.stats;
    const w = webhook.stats;
    return {
      metering_compliance_samples_observed_total: s.samples_observed,
      metering_compliance_samples_future_total: s.samples_future,
      metering_compliance_evaluations_total: s.evaluations,
      // with many controllers: as of this controller's last evaluation as the compliance leader
      metering_compliance_alerts_open: evaluator ? evaluator.openAlerts : monitor.openAlerts.length,
      metering_compliance_violations: (evaluator ? evaluator.last : monitor.lastEvaluation)?.violations.length ?? 0,
      metering_compliance_unverified: (evaluator ? evaluator.last : monitor.lastEvaluation)?.unverified.length ?? 0,
      metering_compliance_resources_tracked: monitor.index.size,
      metering_compliance_resources_refused_total: s.over_capacity,
      metering_compliance_alert_store_failures_total: persistFailures,
      metering_compliance_webhook_delivered_total: w.delivered,
      metering_compliance_webhook_retries_total: w.retries,
      metering_compliance_webhook_failed_total: w.failed,
      metering_compliance_webhook_dropped_total: w.dropped,
      ...(evaluator
        ? {
            metering_compliance_cluster_evaluations_total: evaluator.stats.evaluations,
            metering_compliance_cluster_fenced_out_total: evaluator.stats.fenced_out,
            metering_compliance_cluster_failures_total: evaluator.stats.failures,
            metering_compliance_cluster_events_already_applied_total: evaluator.stats.events_already_applied,
          }
        : {}),
    };
  });

  const record = async (license: License, by: string) => {
    const r = await licenses.record(license, by);
    if (r.created) await refresh();
    return r;
  };

  const mod: ComplianceModule = {
    name: 'compliance',
    monitor,
    licenses,
    alerts,
    webhook,
    ready,
    record,
    refresh,
    async flush() {
      await ready;
      if (evaluator) await evaluator.evaluateNow();
      else monitor.evaluateNow();
      await persisting;
      await webhook.idle();
    },
    // in a cluster the live stream is not evaluated here (each controller sees a share of it)
    observers: evaluator ? [] : [monitor],
    routes: [complianceRoutes({ config, db: svc.db, monitor, licenses, alerts, record, ...(evaluator ? { cluster: { live: () => readLive(svc.db) } } : {}) })],
    async close() {
      clearInterval(refreshTimer);
      monitor.close();
      await evaluator?.close();
      await ready.catch(() => undefined);
      await persisting;
      await webhook.close();
    },
  };
  return mod;
};
