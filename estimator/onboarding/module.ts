import type { AppModule, ModuleFactory } from '../../controller/app';
import { readYamlFile } from '../../config/yaml-source';
import { SizeTracker } from '../event-size';
import { SharedSizeTracker } from '../size-store';
import { defaultPolling, pollingFromYaml, type PollingConfig } from '../polling';
import type { Profiler } from '../../profiler/profiler';
import { onboardingRoutes } from './routes';
import { PredictionStore } from './store';
import { tolerantDb } from '../../pipeline/store/read-options';

/**
 * The estimator in the running product: a `SizeTracker` on the ingestion interception hook (so
 * onboarding estimates size each meter by the mean of its last three stored documents, the paper's
 * method, falling back to the measured priors for meters not seen yet), the Heat onboarding route and
 * the planners' prediction routes over the `predictions` collection of the store database.
 */

export interface OnboardingModule extends AppModule {
  tracker: SizeTracker;
  predictions: PredictionStore;
}

export const onboardingModule: ModuleFactory = (svc): OnboardingModule => {
  const config = svc.config.estimator;
  const log = svc.log.child({ component: 'estimator-onboarding' });
  // with several controllers the sizes are shared through the store (estimator.size_tracker_state)
  const shared = config.size_tracker_state === 'store' ? new SharedSizeTracker(svc.db, log) : undefined;
  shared?.start(config.size_tracker_flush_ms);
  const tracker = shared?.view ?? new SizeTracker();
  // planners' lookups (listing, estimate vs actual) tolerate a few seconds of staleness: store.reads
  const lookupDb = tolerantDb(svc.db, svc.config.store.reads, 'estimator');
  const predictions = new PredictionStore(svc.db, lookupDb);
  let profiler: Profiler | undefined;
  // The polling configuration is read once at start-up (a broken file stops the product with its
  // location), the embedded default included, so no request parses it again.
  const pollingConfig: PollingConfig = config.polling_file ? pollingFromYaml(readYamlFile(config.polling_file)) : defaultPolling();
  svc.metrics.registerSnapshot('estimator size tracker (paper: mean of the last three event sizes per meter)', () => ({
    metering_estimator_meters_observed: tracker.meters().length,
  }));
  return {
    name: 'estimator-onboarding',
    tracker,
    predictions,
    observers: [shared ?? tracker],
    routes: [onboardingRoutes({ services: svc, store: predictions, db: lookupDb, tracker, config, pollingConfig, profiler: () => profiler })],
    // the offline resource predictor works on the live profiler's VM profiles
    started: (modules) => {
      profiler = (modules.find((m) => m.name === 'profiler') as (AppModule & { profiler?: Profiler }) | undefined)?.profiler;
    },
    async close() {
      await shared?.close();
      // Nothing of its own to release: the store client belongs to the application; requests in
      // flight finished when the controller closed (before modules close).
      log.debug({ meters: tracker.meters().length }, 'estimator onboarding module closed');
    },
  };
};
