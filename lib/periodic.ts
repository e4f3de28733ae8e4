/**
 * A job run every `intervalMs`: never two runs at once (a tick while one is under way is skipped), and
 * `close()` stops the ticks and waits for the run under way, so nothing of it runs after close resolves.
 */
export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): this {
    if (this.closed || this.timer) return this;
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** One run now (or the one under way); nothing after close. Errors go to onError. */
  runNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.running ??= Promise.resolve()
      .then(this.run)
      .then(
        () => undefined,
        (err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }
}
