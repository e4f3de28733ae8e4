/**
 * A worker process for the kill test (billing-scenario.test.ts): it runs a real mediation job of a
 * range with a short lease, says `written` once its run's documents are in MongoDB (before the
 * switch), and then stays there until the test kills it with SIGKILL.
 *
 *   node --import tsx test/rating/support/killable-mediation.ts MONGODB_URI DATABASE FROM TO
 */
import { MongoClient } from 'mongodb';
import { processMediation } from '../../../billing/jobs/processors';
import { LeaseLocks } from '../../../billing/mediation/lock';

async function main(): Promise<void> {
  const [uri, database, from, to] = process.argv.slice(2);
  if (!uri || !database || !from || !to) throw new Error('usage: killable-mediation.ts MONGODB_URI DATABASE FROM TO');
  const client = await new MongoClient(uri).connect();
  const db = client.db(database);
  await processMediation(
    {
      db,
      locks: new LeaseLocks(db, { ttlMs: 2000 }),
      hooks: {
        afterWrite: async () => {
          process.stdout.write('written\n');
          await new Promise(() => undefined); // killed here
        },
      },
    },
    { from, to, granularity: 'day', timezone: 'UTC', carrySeconds: 3600, inNode: true },
    { progress: async () => undefined },
  );
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
