import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Application } from '../../controller/app';
import { agentHostConfig } from '../../agent/config';
import { HostProbe } from '../../agent/host/probe';
import { metricKey } from '../../agent/metrics';
import { createPublisher } from '../../agent/publisher';
import { AgentRuntime } from '../../agent/runtime';
import type { Sample } from '../../pipeline/sample';
import { COLLECTIONS } from '../../pipeline/store/layout';
import { isolation } from '../support/isolation';
import { controller, freePort, INGEST, log, SECRET, waitFor } from './helpers';

/**
 * The controller is unreachable while the agent runs: window samples wait in the spool on disk; the
 * agent is stopped and started again (a new runtime on the same directory, as after a crash or
 * reboot); once the controller is up, everything spooled arrives once, and the window that was open
 * when the agent stopped is completed from the raw polls the agent kept.
 */
const iso = isolation(import.meta.url);
const HOST = `outage-${iso.id}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-outage-'));
let app: Application | undefined;
afterAll(async () => {
  await app?.services.db.dropDatabase().catch(() => undefined);
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

function runtime(port: number, spooled: Sample[]): AgentRuntime {
  const config = agentHostConfig.parse({ data_dir: dir, retry_s: 0.2, fsync_s: 0 });
  return new AgentRuntime({
    probe: new HostProbe({ host: HOST, cgroupRoot: false, virsh: false }),
    config,
    intervalMs: 200,
    windowMs: 1000,
    publisher: createPublisher(`http://127.0.0.1:${port}/v1/samples`, { token: INGEST, secret: SECRET }),
    log,
    onWindow: (s) => spooled.push(...s),
  });
}

describe('controller outage and agent restart', () => {
  it('spools while the controller is down, survives a restart, then delivers every window once', async () => {
    const port = await freePort();
    const spooled: Sample[] = [];
    const a = runtime(port, spooled);
    await a.start();
    await waitFor('three windows spooled', async () => a.status().windows >= 3, 20_000, 50);
    const s = a.status();
    expect(s.samples_sent).toBe(0);
    expect(s.spool_batches).toBeGreaterThanOrEqual(3);
    expect(s.last_error).toMatch(/publish: /);
    await a.stop();
    const lastPollOfA = a.store.newest;

    // the controller comes up on the port the agent publishes to; the agent starts again
    app = await controller(iso.dbName(), `t-${iso.id}`, { port });
    const b = runtime(port, spooled);
    await b.start();
    expect(b.spool.batches).toBeGreaterThanOrEqual(3); // what A left, still on disk
    await waitFor('the spool drained', async () => b.status().windows >= 1 && b.spool.batches === 0, 30_000, 100);
    await b.stop();

    const meter = app.services.db.collection(COLLECTIONS.meter);
    const stored = await meter.find({ resource_id: HOST, counter_name: 'hardware.memory.used' }).sort({ timestamp: 1 }).toArray();
    const windows = [...new Set(spooled.filter((x) => x.counter_name === 'hardware.memory.used').map((x) => (x.resource_metadata.window as { start: string }).start))];
    expect(stored.map((d) => d.resource_metadata.window.start).sort()).toEqual(windows.sort());
    expect(new Set(stored.map((d) => d.message_id)).size).toBe(stored.length);

    // the window A was filling when it stopped was completed by B from the local store, with every poll A made in it
    const wStart = Math.floor(lastPollOfA / 1000) * 1000;
    const doc = stored.find((d) => Date.parse(d.resource_metadata.window.start) === wStart);
    expect(doc, `window ${new Date(wStart).toISOString()} stored`).toBeDefined();
    const rawInWindow = b.store.points(metricKey('hardware.memory.used', HOST), wStart, wStart + 1000);
    expect(doc!.resource_metadata.window.count).toBe(rawInWindow.length);
    expect(doc!.resource_metadata.window.last).toBe(rawInWindow.at(-1)!.v);
  }, 90_000);
});

describe('stopping the agent', () => {
  const stopRuntime = (sub: string, publisher?: ReturnType<typeof createPublisher>) =>
    new AgentRuntime({
      probe: new HostProbe({ host: `${HOST}-stop`, cgroupRoot: false, virsh: false }),
      config: agentHostConfig.parse({ data_dir: path.join(dir, sub), retry_s: 0.2, fsync_s: 0 }),
      intervalMs: 100,
      windowMs: 300,
      publisher,
      log,
    });

  it('polls no more once stop is called; without a destination it does not wait for the spool to drain', async () => {
    const a = stopRuntime('no-destination');
    await a.start();
    await waitFor('two windows spooled', async () => a.status().windows >= 2, 20_000, 20);
    const polls = a.status().polls;
    const t0 = Date.now();
    await a.stop(10_000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(a.status().polls).toBe(polls);
  });

  it('with an unreachable destination it gives the spool the drain time but takes no new polls meanwhile', async () => {
    const a = stopRuntime('unreachable', createPublisher(`http://127.0.0.1:${await freePort()}/v1/samples`, { token: INGEST, secret: SECRET }));
    await a.start();
    await waitFor('two windows spooled', async () => a.status().windows >= 2, 20_000, 20);
    const polls = a.status().polls;
    const windows = a.status().windows;
    await a.stop(1000);
    expect(a.status().polls).toBe(polls);
    expect(a.status().windows).toBe(windows);
    expect(a.spool.batches).toBeGreaterThanOrEqual(2); // kept on disk for the next start
  });
});
