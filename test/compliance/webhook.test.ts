import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complianceWebhookConfig } from '../../compliance/config';
import type { AlertEvent } from '../../compliance/alerts';
import { WebhookSender } from '../../compliance/webhook';

let status = 500;
const bodies: Array<{ event: string; alert: { id: string } }> = [];
const auth: Array<string | undefined> = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      auth.push(req.headers.authorization);
      if (status === 200) bodies.push(JSON.parse(body));
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const ev = (id: string): AlertEvent => ({ event: 'opened', alert: { id, key: id, state: 'open', kind: 'cores-exceeded', license_id: 'l', resource_id: null, project_id: null, assigned: 1, actual: 2, opened_at: '2026-06-01T00:00:00.000Z', resolved_at: null, samples: [] } });

describe('alert webhook', () => {
  it('retries with back-off, gives an alert up after max_attempts, and carries on with the next in order', async () => {
    status = 500;
    const w = new WebhookSender(complianceWebhookConfig.parse({ url, token: 'sekret', max_attempts: 3, backoff_ms: 5 }));
    w.send(ev('a'));
    await w.idle();
    expect(w.stats).toMatchObject({ delivered: 0, retries: 2, failed: 1 });
    expect(auth.at(-1)).toBe('Bearer sekret');
    status = 200;
    w.send(ev('b'));
    w.send(ev('c'));
    await w.idle();
    expect(bodies.map((b) => b.alert.id)).toEqual(['b', 'c']);
    expect(w.stats).toMatchObject({ delivered: 2, failed: 1 });
    await w.close();
  });

  it('never blocks the caller: the queue is bounded (oldest dropped, counted); an unreachable receiver is a failed attempt', async () => {
    const dead = new WebhookSender(complianceWebhookConfig.parse({ url: 'http://127.0.0.1:9/none', max_attempts: 2, backoff_ms: 1, queue_limit: 2 }));
    for (const id of ['1', '2', '3', '4']) dead.send(ev(id));
    expect(dead.stats.dropped).toBeGreaterThanOrEqual(1);
    await dead.idle();
    expect(dead.stats.delivered).toBe(0);
    expect(dead.stats.failed + dead.stats.dropped).toBe(4);
    await dead.close();
  });

  it('refuses a webhook URL that is not http(s)', () => {
    expect(complianceWebhookConfig.safeParse({ url: 'ftp://x' }).success).toBe(false);
    expect(new WebhookSender(complianceWebhookConfig.parse({})).enabled).toBe(false);
  });
});
