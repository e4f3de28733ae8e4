import type { DemoStep } from './demo-context';
import { profilerDemoStep } from '../profiler/demo';
import { scalerDemoStep } from '../scaler/demo';
import { jobsDemoStep } from '../pipeline/jobs/demo';

/** The demo's chapters after services and controller, in order; each component contributes one. */
export const demoSteps: DemoStep[] = [
  profilerDemoStep,
  scalerDemoStep,
  jobsDemoStep,
];
