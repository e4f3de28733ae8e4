import { describe, expect, it } from 'vitest';
import { runScaleBench } from '../../agent/bench';
import { redisUrl } from '../support/services';
import { isolation } from '../support/isolation';

const iso = isolation(import.meta.url);

// The scale benchmark itself, bounded: 60 then 120 simulated agents in one process, 40 requests at
// 40/s per step (the recorded figures come from `metering agent bench scale` at 1,000–10,000).
describe('agent scale benchmark (bounded run)', () => {
  it('registers simulated agents through the queue and answers every request', async () => {
    const r = await runScaleBench({ redisUrl: redisUrl(), counts: [60, 120], rate: 40, seconds: 1, processes: 1, progress: false, write: false, prefix: `t-${iso.id}` });
    expect(r.steps.map((s) => s.agents)).toEqual([60, 120]);
    for (const s of r.steps) {
      expect(s.answered).toBe(s.requests);
      expect(s.timeouts).toBe(0);
      expect(s.p99_ms).toBeGreaterThanOrEqual(s.p50_ms);
      expect(s.registry_resources).toBe(4 * s.agents);
    }
    expect(r.growth?.agents).toBe('60 → 120');
  }, 120_000);
});
