import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { createLogger } from '../../lib/log';
import { scalerConfig } from '../../scaler/config';
import { LOOP_DISCOVERY_COMMANDS, LOOP_SIGNALS } from '../../scaler/signals';
import { ScalerService } from '../../scaler/service';
import { isolation } from '../support/isolation';
import { mongoTier, mongoUri } from '../support/services';

/**
 * "The docs say exactly what the loop reads": the documented lists (docs/scaler.md's table, the
 * README's sentence), LOOP_SIGNALS, and what one real collection round sends to the server and fills
 * in must agree.
 */
const REPO = path.resolve(__dirname, '../..');
const iso = isolation(import.meta.url);
const expected = LOOP_SIGNALS.map((s) => `${s.field} ← ${s.source}`).sort();

function documentedInScalerDoc(): string[] {
  const doc = fs.readFileSync(path.join(REPO, 'docs/scaler.md'), 'utf8');
  const m = /<!-- loop-signals:start -->([\s\S]*?)<!-- loop-signals:end -->/.exec(doc);
  if (!m) throw new Error('docs/scaler.md has no <!-- loop-signals:start --> … <!-- loop-signals:end --> table');
  return m[1]!
    .split('\n')
    .map((l) => /^\|\s*`([a-z_]+)`\s*\|\s*`?([A-Za-z$]+)`?\s*\|/.exec(l.trim()))
    .filter((x): x is RegExpExecArray => x !== null)
    .map((x) => `${x[1]} ← ${x[2]}`)
    .sort();
}

function documentedInReadme(): string[] {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = /<!-- loop-signals -->([\s\S]*?)<!-- \/loop-signals -->/.exec(readme);
  if (!m) throw new Error('README.md has no <!-- loop-signals --> … <!-- /loop-signals --> list');
  // "`a`, `b` (from `source`), `c` (from the profiler)": fields up to each "(from …)" belong to it
  const out: string[] = [];
  for (const part of m[1]!.replace(/\s+/g, ' ').matchAll(/((?:`[a-z_]+`,? ?)+)\(from (?:the )?`?([A-Za-z$]+)`?\)/g)) {
    for (const f of part[1]!.matchAll(/`([a-z_]+)`/g)) out.push(`${f[1]} ← ${part[2]}`);
  }
  return out.sort();
}

describe('the documented loop signals are the collected ones', () => {
  it('docs/scaler.md and the README list exactly LOOP_SIGNALS (field and source)', () => {
    expect(documentedInScalerDoc()).toEqual(expected);
    expect(documentedInReadme()).toEqual(expected);
  });

  describe('one real collection round', () => {
    let client: MongoClient;
    const commands: CommandStartedEvent[] = [];
    let service: ScalerService;
    beforeAll(async () => {
      client = new MongoClient(mongoUri(), { monitorCommands: true });
      await client.connect();
      const config = scalerConfig.parse({ database: iso.dbName() });
      service = new ScalerService({
        config,
        mongo: client,
        db: client.db(iso.dbName()),
        log: createLogger('loop-signals-test', 'silent'),
        uri: mongoUri(),
        connectShard: async (h) => {
          const c = new MongoClient(`mongodb://${h}/?directConnection=true`, { monitorCommands: true });
          c.on('commandStarted', (e) => commands.push(e));
          return c.connect();
        },
      });
      await client.db(iso.dbName()).collection('meter').insertOne({ counter_name: 'cpu', counter_volume: 1 });
      await service.init(); // topology detection (hello, serverStatus.process, buildInfo) is not a round
      client.on('commandStarted', (e) => commands.push(e));
      // the profiler's VM load, keyed by the host the store runs on (its shards' hosts on mongos)
      service.useVmLoad(() => new Proxy({}, { get: () => ({ cpu: 42, memory: 37 }), ownKeys: () => ['127.0.0.1', 'localhost'], getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }) }) as Record<string, { cpu: number; memory: number }>);
    });
    afterAll(async () => {
      await client.db(iso.dbName()).dropDatabase().catch(() => undefined);
      await client.close();
    });

    it('asks the server only for the documented sources (and shard discovery) and fills in only documented fields', async () => {
      await service.collect(); // first round: no rates yet (counters need two snapshots)
      await new Promise((r) => setTimeout(r, 50));
      const { observations } = await service.collect();
      const serverSources = new Set<string>(LOOP_SIGNALS.map((s) => s.source).filter((s) => s !== 'profiler'));
      const allowed = new Set<string>([...serverSources, ...LOOP_DISCOVERY_COMMANDS, 'endSessions', 'ping']);
      const sent = [...new Set(commands.map((c) => c.commandName))];
      expect(sent.filter((c) => !allowed.has(c)), `commands a round sent: ${sent.join(', ')}`).toEqual([]);
      expect(commands.some((c) => JSON.stringify(c.command).includes('$collStats') || JSON.stringify(c.command).includes('$shardedDataDistribution'))).toBe(false);
      const fields = new Set(observations.flatMap((o) => Object.keys(o)).filter((k) => k !== 't' && k !== 'shard'));
      const documented = new Set<string>(LOOP_SIGNALS.map((s) => s.field));
      expect([...fields].filter((f) => !documented.has(f))).toEqual([]);
      // every documented source that this server answers shows up in the observations
      expect(fields.has('cpu') && fields.has('memory')).toBe(true);
      if (mongoTier() === 'real') {
        for (const f of ['reads_per_s', 'writes_per_s', 'disk', 'disk_total_bytes']) expect(fields.has(f), f).toBe(true);
      } else {
        console.warn('partly skipped on the MongoDB stand-in: it has no serverStatus opcounters and no dbStats fsUsedSize, so only the profiler fields can be checked present (the command list is checked in full)');
      }
    });
  });
});
