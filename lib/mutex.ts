/**
 * A promise-chain mutex: `run(fn)` waits for every earlier holder to finish before `fn` starts, so
 * two callers never overlap. Used where two paths (the scaler's control loop and an operator's
 * `POST /v1/scaler/evaluate?actuate=true`) must never act on the cluster at the same time.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private holders = 0;

  /** Whether someone holds or waits for the lock. */
  get busy(): boolean {
    return this.holders > 0;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.holders++;
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    try {
      await prev.catch(() => undefined);
      return await fn();
    } finally {
      this.holders--;
      release();
    }
  }
}
