import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log';
import { defaultPolicy } from '../../scaler/config';
import type { Observation } from '../../scaler/metrics';
import { ScalerLoop } from '../../scaler/loop';
import type { Decision } from '../../scaler/policy';
import { synthesize } from '../../scaler/synth';

const log = createLogger('scaler-test', 'silent');

/** Feeds a synthetic series round by round, as a collector on a live cluster would. */
function rounds(obs: Observation[]) {
  const times = [...new Set(obs.map((o) => o.t.getTime()))].sort((a, b) => a - b);
  let i = 0;
  return {
    now: () => new Date(times[Math.min(i, times.length - 1)]!),
    collect: async () => obs.filter((o) => o.t.getTime() === times[i]),
    advance: () => i++,
    count: times.length,
  };
}

describe('control loop', () => {
  it('acts once on a sustained overload and records every evaluation', async () => {
    const s = synthesize({ scenario: 'sustained' });
    const r = rounds(s.observations);
    const recorded: Decision[] = [];
    const acted: Decision[] = [];
    const loop = new ScalerLoop({ policy: defaultPolicy(), log, now: r.now, collect: r.collect, record: async (d) => void recorded.push(d), act: async (d) => void acted.push(d), sleep: async () => void r.advance() });
    await loop.run(0, r.count);
    expect(recorded).toHaveLength(r.count);
    expect(acted.map((d) => d.action)).toEqual(['add-shard']);
  });

  it('a failing collection round or action is logged and the loop goes on', async () => {
    let n = 0;
    const acted: string[] = [];
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const loop = new ScalerLoop({
      policy: defaultPolicy(),
      log,
      now: () => new Date(t0 + n * 300_000),
      collect: async () => {
        if (n === 1) throw new Error('mongos unreachable');
        return [{ t: new Date(t0 + n * 300_000), shard: 'sh0', cpu: 97 }];
      },
      act: async (d) => {
        acted.push(d.action);
        throw new Error('addShard failed');
      },
      sleep: async () => void n++,
    });
    const ds = await loop.run(0, 6);
    expect(ds).toHaveLength(5); // round 1 skipped
    expect(acted).toEqual(['add-shard']); // the failure does not stop the loop; cooldown still applies
  });
});

describe('a round whose decision is not stored (fenced out, store failure)', () => {
  it('leaves the policy as it was: the next stored round decides as if the refused round never ran', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const step = 300_000;
    // hot from the first minute: the default policy adds a shard once its window holds
    const run = async (refuse: (n: number) => 'fence' | 'throw' | undefined) => {
      let n = 0;
      const stored: string[] = [];
      const acted: string[] = [];
      const loop = new ScalerLoop({
        policy: defaultPolicy(),
        log,
        now: () => new Date(t0 + n * step),
        collect: async () => [{ t: new Date(t0 + n * step), shard: 'sh0', cpu: 97 }, { t: new Date(t0 + n * step), shard: 'sh1', cpu: 96 }],
        record: async (d) => {
          const r = refuse(n);
          if (r === 'throw') throw new Error('store unreachable');
          if (r === 'fence') return false;
          stored.push(`${n}:${d.action}`);
          return true;
        },
        act: async (d) => void acted.push(`${n}:${d.action}`),
        sleep: async () => void n++,
      });
      const ds = await loop.run(0, 12);
      return { ds, stored, acted };
    };
    const plain = await run(() => undefined);
    const firstAction = plain.ds.findIndex((d) => d.action !== 'none');
    expect(firstAction).toBeGreaterThan(0);
    for (const how of ['fence', 'throw'] as const) {
      // the round that would have acted is refused; the next round decides that action instead of
      // holding back within a cooldown the refused round started
      const refused = await run((n) => (n === firstAction ? how : undefined));
      expect(refused.ds[firstAction]!.action).toBe(plain.ds[firstAction]!.action);
      expect(refused.ds[firstAction + 1]!.action).toBe(plain.ds[firstAction]!.action);
      expect(refused.ds[firstAction + 1]!.reason).toBe(plain.ds[firstAction]!.reason);
      expect(refused.acted[0]).toBe(`${firstAction + 1}:${plain.ds[firstAction]!.action}`); // the refused round carried nothing out
    }
  });
});

describe('control loop shared with live actuation', () => {
  it('an API-triggered round waits for the loop\'s round in progress (one lock), uses the loop\'s cooldown, and is recorded with who asked', async () => {
    const { Mutex } = await import('../../lib/mutex');
    const lock = new Mutex();
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    let n = 0;
    let active = 0;
    let maxActive = 0;
    const acted: { action: string; by: string }[] = [];
    const recorded: { action: string; by: string; who?: string }[] = [];
    let releaseAct!: () => void;
    const actBlocked = new Promise<void>((r) => (releaseAct = r));
    const loop = new ScalerLoop({
      policy: defaultPolicy(),
      log,
      exclusive: (fn) => lock.run(fn),
      now: () => new Date(t0 + n * 300_000),
      // sustained overload on sh0: every round sees cpu 97
      collect: async () => [{ t: new Date(t0 + n * 300_000), shard: 'sh0', cpu: 97 }],
      record: async (d, trigger) => void recorded.push({ action: d.action, by: trigger.by, ...(trigger.by === 'api' ? { who: trigger.requestedBy } : {}) }),
      act: async (d, trigger) => {
        active++;
        maxActive = Math.max(maxActive, active);
        acted.push({ action: d.action, by: trigger.by });
        if (acted.length === 1) await actBlocked; // the loop's add-shard is still running…
        active--;
      },
    });
    // rounds of the loop until the overload has lasted 10 minutes (the default window): the third acts
    for (; n < 2; n++) await loop.tick();
    const loopRound = loop.tick(); // n = 2: add-shard, blocked in act
    await new Promise((r) => setTimeout(r, 10));
    n = 3;
    const apiRound = loop.tick({ by: 'api', requestedBy: 'ops', remote: '10.0.0.7' }); // …while an operator asks
    await new Promise((r) => setTimeout(r, 10));
    expect(recorded.filter((r) => r.by === 'api')).toHaveLength(0); // the API round has not started
    releaseAct();
    const [first, second] = await Promise.all([loopRound, apiRound]);
    expect(maxActive).toBe(1);
    expect(first?.action).toBe('add-shard');
    // the API round ran on the loop's policy state: the add-shard restarted the windows
    expect(second?.action).toBe('none');
    expect(recorded.at(-1)).toEqual({ action: 'none', by: 'api', who: 'ops' });
    // 15 minutes after the add-shard the overload has lasted a window again: an operator's round is
    // hot but within the loop's scale-out cooldown (a fresh policy would add another shard)
    n = 4;
    await loop.tick();
    n = 5;
    const third = await loop.tick({ by: 'api', requestedBy: 'ops' });
    expect(third?.action).toBe('none');
    expect(third?.reason).toMatch(/hot \(sh0 cpu 97 > 90 for 10m\) but within scale-out cooldown/);
    expect(acted).toEqual([{ action: 'add-shard', by: 'loop' }]);
  });
});
