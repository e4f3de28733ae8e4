import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { distributionPort } from '../../services/rabbitmq';
import { portOpen } from '../../services/proc';

describe('RabbitMQ distribution port', () => {
  it('is AMQP port + 20000 when that is a port number and free, so a restarted instance keeps it', async () => {
    // an AMQP port whose derived port nobody listens on right now
    let amqp = 30000;
    while (await portOpen(amqp + 20000, '127.0.0.1')) amqp += 1;
    expect(await distributionPort(amqp)).toBe(amqp + 20000);
    expect(await distributionPort(amqp)).toBe(amqp + 20000);
  });

  it('is a valid free port when the AMQP port is too high to derive one (a random test port, e.g. 46185)', async () => {
    const port = await distributionPort(46185);
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThanOrEqual(65535);
    expect(port).not.toBe(66185);
  });

  it('is another port when the derived one is taken', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const taken = (server.address() as net.AddressInfo).port;
    try {
      if (taken - 20000 > 0) expect(await distributionPort(taken - 20000)).not.toBe(taken);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
