import { describe, expect, it } from 'vitest';
import { Periodic } from '../../lib/periodic';

/**
 * The late-data check's timer (billing/jobs/module.ts runs the late-data lease holder's check on a
 * Periodic): a check under way when the jobs module closes is waited for, no check starts after close,
 * and ticks never run two checks at once.
 */
describe('late-data check timer (Periodic)', () => {
  it('close() waits for the check under way; nothing runs after it; overlapping ticks are skipped', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const errors: string[] = [];
    const p = new Periodic(async () => {
      runs++;
      log.push('start');
      await gate; // a check that takes longer than the interval
      log.push('end');
    }, 20, (err) => errors.push(err.message)).start();
    while (runs === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100)); // five more ticks while the first check runs
    expect(runs).toBe(1);
    let closed = false;
    const closing = p.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false); // still waiting for the check under way
    release();
    await closing;
    expect(log).toEqual(['start', 'end']);
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toBe(1); // no tick after close
    await p.runNow();
    expect(runs).toBe(1);
    expect(errors).toEqual([]);
  });

  it('runNow answers with the run\'s result (the same run for two callers at once), undefined for a failed run and after close; start({immediately}) runs at once', async () => {
    let n = 0;
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const errors: string[] = [];
    const p = new Periodic(async () => {
      n++;
      await gate;
      if (n === 2) throw new Error('store unreachable');
      return n * 10;
    }, 3_600_000, (err) => errors.push(err.message)).start({ immediately: true });
    expect(n).toBe(0); // scheduled, not run synchronously
    const [a, b] = [p.runNow(), p.runNow()];
    await new Promise((r) => setTimeout(r, 10));
    expect(n).toBe(1); // the immediate run; both callers share it
    release();
    expect(await Promise.all([a, b])).toEqual([10, 10]);
    gate = Promise.resolve();
    expect(await p.runNow()).toBeUndefined();
    expect(errors).toEqual(['store unreachable']);
    expect(await p.runNow()).toBe(30);
    await p.close();
    expect(await p.runNow()).toBeUndefined();
    expect(n).toBe(3);
  });

  it('a failing check is reported and the next tick runs again', async () => {
    const errors: string[] = [];
    let runs = 0;
    const p = new Periodic(async () => {
      runs++;
      if (runs === 1) throw new Error('store unreachable');
    }, 10, (err) => errors.push(err.message)).start();
    while (runs < 2) await new Promise((r) => setTimeout(r, 5));
    await p.close();
    expect(errors).toEqual(['store unreachable']);
  });
});
