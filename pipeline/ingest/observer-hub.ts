import type { Logger } from '../../lib/log';
import type { SampleObserver, SamplePosition, StoredSample } from '../sample';

/**
 * The interception hub: hands every batch of freshly stored samples (never duplicates) to each
 * registered observer, after the write. A throwing observer is logged and counted; it never affects
 * ingestion or the other observers. Observers never query the store: the batch is all they get.
 */
export class ObserverHub {
  private readonly observers: SampleObserver[] = [];
  private readonly failures = new Map<string, number>();

  constructor(private readonly log?: Logger) {}

  register(observer: SampleObserver): () => void {
    this.observers.push(observer);
    return () => this.unregister(observer);
  }

  unregister(observer: SampleObserver): void {
    const i = this.observers.indexOf(observer);
    if (i >= 0) this.observers.splice(i, 1);
  }

  get names(): string[] {
    return this.observers.map((o) => o.name);
  }

  /** Number of times each observer has thrown. */
  failureCounts(): Record<string, number> {
    return Object.fromEntries(this.failures);
  }

  get totalFailures(): number {
    let n = 0;
    for (const v of this.failures.values()) n += v;
    return n;
  }

  publish(samples: readonly StoredSample[], positions?: readonly (SamplePosition | undefined)[]): void {
    if (samples.length === 0) return;
    for (const o of [...this.observers]) {
      try {
        o.onStored(samples, positions);
      } catch (err) {
        this.failures.set(o.name, (this.failures.get(o.name) ?? 0) + 1);
        this.log?.warn({ observer: o.name, err }, 'sample observer threw; ingestion continues');
      }
    }
  }
}
