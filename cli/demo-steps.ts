import type { DemoStep } from './demo-context';
import { onboardingDemoStep } from '../estimator/onboarding/demo';
import { profilerDemoStep } from '../profiler/demo';
import { scalerDemoStep } from '../scaler/demo';
import { jobsDemoStep } from '../pipeline/jobs/demo';

/** The demo's chapters after services and controller, in order; each component contributes one. */
export const demoSteps: DemoStep[] = [
  onboardingDemoStep,
  profilerDemoStep,
  scalerDemoStep,
  jobsDemoStep,
];
