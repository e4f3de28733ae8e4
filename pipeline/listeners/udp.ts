import dgram from 'node:dgram';
import type { Logger } from '../../lib/log';
import { BackpressureError } from '../ingest/backpressure';
import type { ListenerConfig } from './config';
import { MAX_MESSAGE_BYTES } from './config';
import type { MeterMessageIntake } from './intake';

/**
 * The target of Ceilometer's udp:// publisher: one msgpack meter message per datagram. UDP has no
 * acknowledgement and no retry: a datagram lost on the network, or arriving while ingestion pushes
 * back (counted as dropped), is gone. Everything that arrives is counted (arrived, malformed,
 * rejected, accepted, dropped) at /metrics.
 */
export class UdpListener {
  private socket: dgram.Socket | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly config: ListenerConfig,
    readonly intake: MeterMessageIntake,
    private readonly log?: Logger,
  ) {}

  /** Bind and start taking datagrams; resolves with the bound port. */
  async start(): Promise<number> {
    const socket = dgram.createSocket({ type: this.config.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    socket.on('message', (msg) => this.onDatagram(msg));
    socket.on('error', (err) => this.log?.error({ err: err.message }, 'UDP listener error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.config.port, this.config.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    const port = socket.address().port;
    this.log?.info({ host: this.config.host, port }, 'listening for Ceilometer udp:// samples');
    return port;
  }

  private onDatagram(msg: Buffer): void {
    const work = (async () => {
      if (msg.length > MAX_MESSAGE_BYTES) {
        await this.intake.refuse(`datagram of ${msg.length} bytes exceeds the limit of ${MAX_MESSAGE_BYTES} bytes`, msg);
        return;
      }
      const decoded = await this.intake.decode(msg);
      if (!decoded) return;
      try {
        await this.intake.accept(decoded);
      } catch (err) {
        if (!(err instanceof BackpressureError)) throw err;
        this.intake.drop();
      }
    })().catch((err: Error) => this.log?.error({ err: err.message }, 'UDP datagram not handled'));
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Stop taking datagrams and wait for those in hand. */
  async stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    await Promise.allSettled([...this.pending]);
  }
}
