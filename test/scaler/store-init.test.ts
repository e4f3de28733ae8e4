import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { initShardedStore, presplitPlan, StoreInitError } from '../../scaler/store-init';
import { isolation } from '../support/isolation';
import { mongoUri } from '../support/services';
import { REPO } from '../support/paths';

const iso = isolation(import.meta.url);
const run = promisify(execFile);

describe('store init: meter is sharded at deployment (real sharded cluster: test/scaler/cluster.test.ts)', () => {
  it('the default key is pre-split by MongoDB on an empty collection; range keys and non-leading hashed fields are not, and say why', () => {
    expect(presplitPlan({ resource_id: 'hashed', timestamp: 1 })).toMatchObject({ presplit: true, why: expect.stringMatching(/hashed first field resource_id/) });
    expect(presplitPlan({ timestamp: 1 })).toMatchObject({ presplit: false, why: expect.stringMatching(/range key: no initial split/) });
    expect(presplitPlan({ project_id: 1, resource_id: 'hashed' })).toMatchObject({ presplit: false, why: expect.stringMatching(/hashed field is not first/) });
  });

  it('refuses a store that is not a mongos, naming the collection; a bad key field is refused before anything is asked', async () => {
    const client = await new MongoClient(mongoUri()).connect();
    try {
      await expect(initShardedStore(client, { database: iso.dbName(), shardKey: { resource_id: 'hashed', timestamp: 1 } })).rejects.toThrow(StoreInitError);
      await expect(initShardedStore(client, { database: iso.dbName(), shardKey: { resource_id: 'hashed', timestamp: 1 } })).rejects.toThrow(
        new RegExp(`store.sharded is true but ${iso.dbName()}\\.meter is not on a sharded cluster`),
      );
      await expect(initShardedStore(client, { database: iso.dbName(), shardKey: { resourceid: 'hashed' } })).rejects.toThrow(/store.shardKey: field 'resourceid' is not a meter field/);
    } finally {
      await client.close();
    }
  });

  it('`metering store init` exits 2 with the reason on a deployment without mongos', async () => {
    const r = await run(process.execPath, [path.join(REPO, 'bin', 'metering.mjs'), 'store', 'init', '--uri', mongoUri()], { cwd: REPO, env: { ...process.env, MONGODB_URI: mongoUri() } }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(/is not on a sharded cluster: the store URI must point to a mongos/);
  }, 60_000);
});
