import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { scalerConfig } from '../../scaler/config';
import { ScalerService } from '../../scaler/service';
import { isolation } from '../support/isolation';
import { mongoUri } from '../support/services';

/**
 * A plain live `evaluate` (the what-if route, no actuation) collects one round when it has no
 * observations, from a copy of the loop's previous serverStatus counters: the loop's next round
 * measures its rates from its own previous round, exactly as when nobody evaluated in between
 * (real MongoDB; the figures compared are the fields and notes the round stores with its decision).
 */
const iso = isolation(import.meta.url);
const log = pino({ level: 'silent' });
let client: MongoClient;

beforeAll(async () => {
  client = await new MongoClient(mongoUri()).connect();
});
afterAll(async () => {
  for (const l of ['plain', 'evaluated']) await client?.db(iso.dbName(l)).dropDatabase().catch(() => undefined);
  await client?.close();
});

/** One loop round's figures as stored: the shard's fields and what the collection skipped. */
async function loopRound(svc: ScalerService, label: string): Promise<{ fields: string[]; skipped: unknown }> {
  await svc.tick();
  const [d] = await client.db(iso.dbName(label)).collection('scaler_decisions').find({ source: 'loop' }).toArray();
  const shards = (d?.inputs?.shards ?? {}) as Record<string, Record<string, number>>;
  return { fields: Object.values(shards).flatMap((m) => Object.keys(m)).sort(), skipped: d?.inputs?.skipped ?? [] };
}

describe('a live evaluate leaves the loop\'s rate state alone', () => {
  it('the loop\'s first round after an evaluate has the figures it has without one', async () => {
    const make = (label: string) => new ScalerService({ config: scalerConfig.parse({ loop: { enabled: true, interval: '1h' } }), mongo: client, db: client.db(iso.dbName(label)), log, uri: mongoUri() });
    const plain = make('plain');
    const evaluated = make('evaluated');
    await plain.init();
    await evaluated.init();
    const r = await evaluated.evaluate({}); // no observations yet: it collects one round now
    expect(r.source).toBe('live');
    expect(r.observations).toBe(1);
    const without = await loopRound(plain, 'plain');
    const after = await loopRound(evaluated, 'evaluated');
    // a first round has no previous counters: no rates, and nothing said about missing opcounters
    expect(without.fields).not.toContain('reads_per_s');
    expect(after).toEqual(without);
    await plain.stop();
    await evaluated.stop();
  });
});
