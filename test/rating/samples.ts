import type { MediationSample } from '../../billing/mediation/reference';

let seq = 0;
/** A sample with the fields mediation reads; message_id increases so ties sort as written. */
export function sample(over: Partial<Omit<MediationSample, 'timestamp'>> & { timestamp: Date | string; counter_volume: number }): MediationSample {
  seq++;
  return {
    counter_name: 'cpu',
    counter_type: 'cumulative',
    counter_unit: 'ns',
    user_id: 'u1',
    project_id: 'p1',
    resource_id: 'vm1',
    message_id: `m${String(seq).padStart(8, '0')}`,
    ...over,
    timestamp: new Date(over.timestamp),
  };
}

/** A series every `stepSec` seconds from `start` for `n` samples, volume from `volume(i)`. */
export function series(start: string, stepSec: number, n: number, volume: (i: number) => number, over: Partial<MediationSample> = {}): MediationSample[] {
  const t0 = new Date(start).getTime();
  return Array.from({ length: n }, (_, i) => sample({ ...over, timestamp: new Date(t0 + i * stepSec * 1000), counter_volume: volume(i) }));
}
