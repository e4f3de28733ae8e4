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
