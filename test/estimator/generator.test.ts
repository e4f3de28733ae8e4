import { describe, expect, it } from 'vitest';
import { prepareSample } from '../../pipeline/store/layout';
import { verifySignature } from '../../pipeline/ceilometer';
import { signSample } from '../../pipeline/ceilometer/sign';
import { eventsForPeriod } from '../../estimator/estimate';
import { generateStackSamples } from '../../estimator/generator';
import { SizeTracker } from '../../estimator/event-size';
import { estimateFile, HOT } from './helpers';

const start = new Date(Date.UTC(2024, 4, 1, 0, 0, 0));

describe('sample generator vs estimate', () => {
  it('asg_of_stacks: the generator emits exactly the estimated events for a day and for an odd period', () => {
    const e = estimateFile(HOT('hot/asg_of_stacks.yaml'));
    const day = generateStackSamples(e.plan, 86_400, start, { secret: '' });
    expect(day).toHaveLength(e.events.per_day);
    const odd = generateStackSamples(e.plan, 7_000, start, { secret: '' });
    expect(odd).toHaveLength(eventsForPeriod(e, 7_000));
    expect(eventsForPeriod(e, 7_000)).toBe(e.meters.reduce((a, m) => a + m.resources * Math.ceil(7_000 / m.interval_s), 0));
  });

  it('resource ids per instance, per vNIC and per disk device (vda + attached volume vdb)', () => {
    const e = estimateFile(HOT('hot/vm_with_cinder.yaml'));
    const s = generateStackSamples(e.plan, 300, start, { secret: '' });
    const ids = (name: string) => s.filter((x) => x.counter_name === name).map((x) => x.resource_id);
    const [instance] = ids('cpu');
    expect(instance).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids('disk.device.read.bytes').sort()).toEqual([`${instance}-vda`, `${instance}-vdb`]);
    expect(ids('network.incoming.bytes')[0]).toMatch(new RegExp(`^instance-[0-9a-f]{8}-${instance}-tap[0-9a-f]{8}-[0-9a-f]{2}$`));
    expect(ids('volume.size')).toHaveLength(1);
    const cpu = s.find((x) => x.counter_name === 'cpu')!;
    expect(cpu).toMatchObject({ counter_type: 'cumulative', counter_unit: 'ns', source: 'openstack' });
    expect(cpu.resource_metadata).toMatchObject({ instance_id: instance, status: 'active', flavor: { name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 } });
  });

  it('samples are signed the Ceilometer way by default', () => {
    const e = estimateFile(HOT('hot/hello_world.yaml'));
    const [s] = generateStackSamples(e.plan, 300, start);
    const msg = signSample(s!, 'change this for valid signing');
    expect(s!.message_signature).toBe(msg.message_signature);
    expect(verifySignature(msg, 'change this for valid signing')).toMatchObject({ valid: true });
  });

  it('bytes: estimate from generic priors within 3% of the stored document sizes; from observed sizes within 0.5%', () => {
    const e = estimateFile(HOT('hot/asg_of_stacks.yaml'));
    const samples = generateStackSamples(e.plan, 86_400, start);
    const tracker = new SizeTracker();
    let actual = 0;
    for (const s of samples) {
      const size = prepareSample(s).bsonSize;
      actual += size;
      tracker.observe(s.counter_name, size);
    }
    expect(Math.abs(e.bytes.per_day - actual) / actual).toBeLessThan(0.03);
    const observed = estimateFile(HOT('hot/asg_of_stacks.yaml'), { sizeModel: { method: 'per-meter', tracker } });
    expect(Math.abs(observed.bytes.per_day - actual) / actual).toBeLessThan(0.005);
  });
});
