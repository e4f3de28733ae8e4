import type { ModuleFactory } from '../controller/app';
import { clusterModule } from '../cluster/module';
import { profilerModule } from '../profiler/module';
import { scalerModule } from '../scaler/module';
import { onboardingModule } from '../estimator/onboarding/module';
import { billingModule } from '../billing/module';
import { complianceModule } from '../compliance/module';
import { agentModule } from '../agent/module';
import { monitorModule } from '../pipeline/monitor/module';
import { consoleModule } from '../console/module';

/**
 * The component modules the running product is made of, in set-up order. Each contributes
 * observers on the sample stream, controller routes and readiness checks.
 */
export const productModules: ModuleFactory[] = [
  clusterModule, // first: the singleton jobs of later modules ask it who leads
  profilerModule,
  scalerModule,
  onboardingModule,
  billingModule,
  complianceModule,
  agentModule,
  monitorModule,
  consoleModule,
];
