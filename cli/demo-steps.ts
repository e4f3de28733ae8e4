import type { DemoStep } from './demo-context';

/** The demo's chapters after services and controller, in order; each component contributes one. */
export const demoSteps: DemoStep[] = [];
