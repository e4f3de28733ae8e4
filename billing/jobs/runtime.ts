import type { LateSampleTracker } from '../mediation/late';
import type { ModeDecision } from './capability';
import type { QueueName, QueueSet } from './queues';

/** The running job machinery; `queues` is undefined while Redis cannot be reached. */
export interface JobsRuntime {
  queues?: QueueSet;
  mode: ModeDecision;
  tracker: LateSampleTracker;
  /** Why the queues are not available (undefined when they are). */
  unavailable(): string | undefined;
  counters: JobCounters;
  /** Drain late samples into re-mediation jobs now (the timer does it every lateDataCheckSeconds). */
  checkLateData(): Promise<string[]>;
}

export interface JobCounters {
  enqueued: number;
  completed: Record<QueueName, number>;
  failed: Record<QueueName, number>;
  lateSamples: number;
  remediationJobs: number;
}
