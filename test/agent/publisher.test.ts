import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, PublishError } from '../../agent/publisher';
import { stableId } from '../../agent/samples';
import { createKafka, ensureTopics } from '../../pipeline/kafka/client';
import { verifySignature } from '../../pipeline/ceilometer/signature';
import type { Sample } from '../../pipeline/sample';
import { isolation } from '../support/isolation';
import { kafkaBrokers } from '../support/services';
import { controller, INGEST, waitFor } from './helpers';

const iso = isolation(import.meta.url);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-publisher-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const window = { start: '2026-12-02T18:00:00.000Z', end: '2026-12-02T18:01:00.000Z', count: 6, min: 1, max: 9, avg: 4.5, last: 2 };
const samples: Sample[] = [0, 1].map((i) => ({
  counter_name: 'hardware.cpu.util', counter_type: 'gauge', counter_unit: '%', counter_volume: 4.5 + i, user_id: null, project_id: null, resource_id: `h${i}`,
  timestamp: new Date('2026-12-02T18:01:00Z'), resource_metadata: { host: `h${i}`, cpu_model: 'X', architecture: 'x86_64', cpu_cores: 4, window }, source: 'metering-agent', message_id: stableId(`h${i}`), message_signature: '',
}));

describe('agent publishers', () => {
  it('file:PATH appends Ceilometer as_dict JSON lines', async () => {
    const file = path.join(tmp, 'sub', 'out.jsonl');
    const p = createPublisher(`file:${file}`, { secret: '' });
    await p.send(samples);
    await p.send(samples.slice(0, 1));
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ name: 'hardware.cpu.util', type: 'gauge', unit: '%', volume: 4.5, resource_id: 'h0', id: samples[0]!.message_id, resource_metadata: { window, cpu_cores: 4 } });
    expect(lines[0].timestamp).toBe('2026-12-02T18:01:00+00:00');
  });

  it('kafka:// sends one signed counter_* message per sample that verifies with the telemetry secret', async () => {
    const topic = iso.topic('ceilometer');
    const kafka = createKafka({ brokers: kafkaBrokers(), clientId: iso.id });
    await ensureTopics(kafka, [topic]);
    const p = createPublisher(`kafka://${kafkaBrokers().join(',')}?topic=${topic}`, { secret: 'kafka-secret' });
    await p.send(samples);
    await p.close();
    const consumer = kafka.consumer({ groupId: iso.groupId() });
    const got: Record<string, unknown>[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(JSON.parse(message.value!.toString())) });
    try {
      await waitFor('two messages', async () => got.length >= 2, 30_000);
    } finally {
      await consumer.disconnect();
    }
    expect(got.map((m) => m.resource_id).sort()).toEqual(['h0', 'h1']);
    for (const m of got) {
      expect(m.counter_name).toBe('hardware.cpu.util');
      expect((m.resource_metadata as { window: unknown }).window).toEqual(window);
      expect(verifySignature(m, 'kafka-secret').valid).toBe(true);
      expect(verifySignature(m, 'other').valid).toBe(false);
    }
  }, 60_000);

  it('an unreachable http:// destination fails the send (the spool keeps the batch); bad URLs are refused with the reason', async () => {
    const p = createPublisher('http://127.0.0.1:9/v1/samples', { secret: 's', token: 't' });
    await expect(p.send(samples)).rejects.toBeInstanceOf(PublishError);
    expect(() => createPublisher('ftp://x/y', { secret: '' })).toThrow(/unsupported scheme "ftp".*file:PATH/);
    expect(() => createPublisher('file:', { secret: '' })).toThrow(/no path/);
    expect(() => createPublisher('kafka://nohostport', { secret: '' })).toThrow(/not host:port/);
  });

  it('samples the controller refuses as invalid (signed with another secret) are counted as rejected, not resent forever', async () => {
    const app = await controller(iso.dbName('rejects'), `t-${iso.id}`);
    try {
      const p = createPublisher(`${app.url}/v1/samples`, { token: INGEST, secret: 'not-the-controller-secret' });
      const res = await p.send(samples);
      expect(res.rejected).toBe(2);
      expect(res.reasons.join(' ')).toMatch(/signature/);
      const ok = await createPublisher(`${app.url}/v1/samples`, { token: INGEST, secret: 'agent-test-telemetry-secret' }).send(samples);
      expect(ok).toEqual({ rejected: 0, reasons: [] });
    } finally {
      await app.services.db.dropDatabase().catch(() => undefined);
      await app.close();
    }
  });
});

