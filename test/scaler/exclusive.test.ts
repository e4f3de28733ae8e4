import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApplication, type Application, type ModuleFactory } from '../../controller/app';
import { meteringConfig } from '../../app/config';
import { registerElector, type Leadership } from '../../cluster/leadership';
import { FencedOutError } from '../../cluster/fence';
import { scalerModule, type ScalerModule } from '../../scaler/module';
import { ActuationRefusedError, type ScalerService } from '../../scaler/service';
import { DECISIONS_COLLECTION } from '../../scaler/decisions';
import type { Mutex } from '../../lib/mutex';
import { testIngestConfig, testStoreConfig } from '../pipeline/ingest/helpers';
import { isolation } from '../support/isolation';

/**
 * The scaler as the product wires it (scalerModule in a running application, real MongoDB): the
 * control loop's rounds and an operator's `POST /v1/scaler/evaluate?actuate=true` share one lock, and
 * only the controller that leads the scaler runs an actuation round.
 *
 * The store here is not a sharded cluster, so `actuationBlocker` would refuse every API round before
 * it reaches the loop; the tests lift that one gate (nothing is carried out either way: the policy
 * decides `none` on this idle store) so the lock and the leadership check are what is exercised.
 */
const iso = isolation(import.meta.url);
const ADMIN = 'admin-token-for-scaler-exclusive';

/** The scaler lease as a clustered controller sees it; `leads` is moved by the tests. */
let leads = true;
const leadership: Leadership = {
  role: 'scaler',
  clustered: true,
  leading: () => leads,
  leader: () => (leads ? 'this-controller' : 'controller-b'),
  token: () => (leads ? 7 : undefined),
  fence: async () => {
    if (!leads) throw new FencedOutError('scaler', undefined, 'not the scaler leader');
    return { role: 'scaler', token: 7 };
  },
  onChange: () => undefined,
};
/** As the cluster module does, first among the modules: the scaler gets its lease from the elector. */
const elector: ModuleFactory = async (svc) => {
  registerElector(svc, { leadership: () => leadership });
  return { name: 'elector' };
};

let app: Application;
let scaler: ScalerService;
const actuate = () => app.app.inject({ method: 'POST', url: '/v1/scaler/evaluate?actuate=true', headers: { authorization: `Bearer ${ADMIN}` } });

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

beforeAll(async () => {
  const config = meteringConfig.parse({
    controller: { auth: { tokens: [{ name: 'ops', token: ADMIN, roles: ['admin'] }] } },
    store: testStoreConfig(iso.dbName()),
    ingest: testIngestConfig(),
    // rounds are started by the test (tick) rather than on a timer
    scaler: { loop: { enabled: false, actuate: true } },
  });
  app = await startApplication({ config, log: pino({ level: 'silent' }), listen: false, kafka: false, modules: [elector, scalerModule] });
  scaler = (app.modules.find((m) => m.name === 'scaler') as ScalerModule).scaler;
  scaler.actuationBlocker = async () => undefined;
});
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
});

describe('scaler rounds as the product wires them', () => {
  it('a loop round and an API actuation round never run at once: the API round collects only after the loop round has finished', async () => {
    leads = true;
    const events: string[] = [];
    const started = [deferred(), deferred()];
    const gate = deferred(); // the loop round's collection is held until the test lets it go
    const collect = scaler.collect.bind(scaler);
    let n = 0;
    scaler.collect = async () => {
      const i = n++;
      events.push(`collect ${i + 1} start (rounds stored: ${scaler.counters.rounds})`);
      started[i]?.resolve();
      if (i === 0) await gate.promise;
      const r = await collect();
      events.push(`collect ${i + 1} end`);
      return r;
    };
    // note when the API round asks for the round lock (the production lock, observed, not replaced)
    const lock = (scaler as unknown as { actLock: Mutex }).actLock;
    const run = lock.run.bind(lock);
    const queued = deferred();
    let takers = 0;
    lock.run = (fn) => {
      if (++takers === 2) queued.resolve();
      return run(fn);
    };
    try {
      const rounds = scaler.counters.rounds;
      const loopRound = scaler.tick();
      await started[0]!.promise;
      const apiRound = actuate();
      // the API round is waiting for the lock, or (were the rounds not serialised) already collecting
      await Promise.race([queued.promise, started[1]!.promise]);
      gate.resolve();
      const [first, res] = await Promise.all([loopRound, apiRound]);
      expect(first?.action).toBe('none');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ actuation: { status: 'none' }, requested_by: { token: 'ops' } });
      expect(events).toEqual([`collect 1 start (rounds stored: ${rounds})`, 'collect 1 end', `collect 2 start (rounds stored: ${rounds + 1})`, 'collect 2 end']);
      const stored = await app.services.db.collection(DECISIONS_COLLECTION).find({}, { sort: { _id: 1 } }).toArray();
      expect(stored.map((d) => d.source)).toEqual(['loop', 'api']);
    } finally {
      gate.resolve();
      lock.run = run;
      scaler.collect = collect;
    }
  });

  it('only the leader actuates: a controller that does not lead the scaler refuses ?actuate=true (409) and collects, stores and carries out nothing', async () => {
    leads = false;
    const collect = scaler.collect.bind(scaler);
    let collected = 0;
    scaler.collect = async () => {
      collected++;
      return collect();
    };
    try {
      const rounds = scaler.counters.rounds;
      const stored = await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({});
      const res = await actuate();
      expect(res.statusCode).toBe(409);
      expect(res.json().reason).toMatch(/^this controller does not lead the scaler \(controller-b does: GET \/v1\/cluster\/controllers gives its address\); ask the leader/);
      await expect(scaler.evaluate({ actuate: true, requestedBy: { token: 'ops' } })).rejects.toThrow(ActuationRefusedError);
      await expect(scaler.evaluate({ actuate: true, requestedBy: { token: 'ops' } })).rejects.toThrow(/does not lead the scaler/);
      // the loop's own round on a follower does nothing either
      expect(await scaler.tick()).toBeUndefined();
      expect(collected).toBe(0);
      expect(scaler.counters.rounds).toBe(rounds);
      expect(await app.services.db.collection(DECISIONS_COLLECTION).countDocuments({})).toBe(stored);
      expect(scaler.counters.actuations).toMatchObject({ done: 0, failed: 0 });
    } finally {
      scaler.collect = collect;
      leads = true;
    }
  });
});
