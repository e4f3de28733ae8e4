import { describe, expect, it } from 'vitest';
import { BSON, Double, Int32, Long } from 'mongodb';
import { meterContent } from '../../../pipeline/store/duplicates';
import { prepareSample } from '../../../pipeline/store/layout';
import { makeSample } from '../ingest/helpers';

/**
 * A redelivery is a duplicate only if its content equals what is stored. The prepared document carries
 * Ceilometer's number types as BSON wrappers (Double, Int32, Long); the stored one comes back from the
 * driver as plain numbers (or Long beyond 2^53): both must read as the same content.
 */
describe('meter content digest (duplicate vs conflict)', () => {
  const roundTrip = <T extends object>(doc: T): T => BSON.deserialize(BSON.serialize(doc)) as T;

  it('a prepared document and the same document read back from the store have one digest', () => {
    for (const volume of [1.0, 7, 1234567890123, 0.25, 2 ** 60]) {
      const doc = prepareSample(makeSample({ counter_volume: volume, resource_metadata: { vcpus: 2, ratio: 1.5, big: 2 ** 55 } })).doc;
      expect(meterContent(roundTrip(doc)), String(volume)).toBe(meterContent(doc));
    }
  });

  it('number wrappers read as their values; a different volume is different content', () => {
    const base = { counter_name: 'cpu', message_id: 'm1' };
    expect(meterContent({ ...base, counter_volume: new Double(3) as never })).toBe(meterContent({ ...base, counter_volume: 3 }));
    expect(meterContent({ ...base, counter_volume: new Int32(3) as never })).toBe(meterContent({ ...base, counter_volume: 3 }));
    expect(meterContent({ ...base, counter_volume: Long.fromString('9007199254740993') as never })).toBe(meterContent({ ...base, counter_volume: Long.fromString('9007199254740993') as never }));
    expect(meterContent({ ...base, counter_volume: Long.fromString('9007199254740993') as never })).not.toBe(meterContent({ ...base, counter_volume: Long.fromString('9007199254740995') as never }));
    expect(meterContent({ ...base, counter_volume: new Double(3) as never })).not.toBe(meterContent({ ...base, counter_volume: 4 }));
  });
});
