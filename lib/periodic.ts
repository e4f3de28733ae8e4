/**
 * A job run every `intervalMs`: never two runs at once (a tick while one is under way is skipped), and
 * `close()` stops the ticks and waits for the run under way, so nothing of it runs after close resolves.
 * `runNow()` answers with what the run returned (undefined when it failed, or after close).
 */
export class Periodic<T = unknown> {
  private timer?: NodeJS.Timeout;
  private running?: Promise<T | undefined>;
  private closed = false;

  constructor(
    private readonly run: () => Promise<T>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Tick every intervalMs from now; with `immediately`, one run right away too. */
  start(opts: { immediately?: boolean } = {}): this {
    if (this.closed || this.timer) return this;
    this.timer = setInterval(() => void this.runNow(), this.intervalMs);
    this.timer.unref();
    if (opts.immediately) void this.runNow();
    return this;
  }

  /** One run now (or the one under way), answering with its result; nothing after close. Errors go to onError. */
  runNow(): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    this.running ??= Promise.resolve()
      .then(this.run)
      .then(
        (result) => result,
        (err: unknown) => {
          this.onError(err instanceof Error ? err : new Error(String(err)));
          return undefined;
        },
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
