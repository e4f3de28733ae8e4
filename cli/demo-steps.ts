import type { DemoStep } from './demo-context';
import { replayDemoStep } from '../pipeline/replay/demo';
import { onboardingDemoStep } from '../estimator/onboarding/demo';
import { profilerDemoStep } from '../profiler/demo';
import { scalerDemoStep } from '../scaler/demo';
import { jobsDemoStep } from '../billing/jobs/demo';
import { complianceDemoStep } from '../compliance/demo';
import { agentDemoStep } from '../agent/demo';
import { consoleDemoStep } from '../console/demo';

/** The demo's chapters after services and controller, in order; each component contributes one. */
export const demoSteps: DemoStep[] = [
  replayDemoStep,
  onboardingDemoStep,
  profilerDemoStep,
  scalerDemoStep,
  jobsDemoStep,
  complianceDemoStep,
  agentDemoStep,
  consoleDemoStep,
];
