import net from 'node:net';
import type { Logger } from '../../lib/log';
import type { ListenerConfig } from './config';
import { MAX_MESSAGE_BYTES } from './config';
import { acceptHolding, type Decoded, type MeterMessageIntake } from './intake';

/** Most frames accepted in one go (bounds one log append / submission). */
const MAX_GROUP = 500;

/**
 * The target of Ceilometer's tcp:// publisher: on a long-lived connection, each sample is its msgpack
 * meter message prefixed with its length as 8 bytes little-endian (ceilometer/publisher/tcp.py).
 * Frames of one connection are taken in order, every complete frame received so far in one go (one log
 * append or one submission, at most 500); while ingestion pushes back the socket
 * is paused, so TCP flow control slows the publisher instead of anything being dropped. The protocol has
 * no acknowledgement: what the publisher wrote before a connection broke may be lost (docs/ingestion.md).
 */
export class TcpListener {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private stopping = false;

  constructor(
    private readonly config: ListenerConfig,
    readonly intake: MeterMessageIntake,
    private readonly log?: Logger,
  ) {}

  async start(): Promise<number> {
    this.stopping = false;
    const server = net.createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const port = (server.address() as net.AddressInfo).port;
    this.log?.info({ host: this.config.host, port }, 'listening for Ceilometer tcp:// samples');
    return port;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered: Buffer = Buffer.alloc(0);
    let busy = false;
    // frames already received are taken even after the publisher hung up (it sends and closes at once)
    const live = () => !this.stopping;
    const drain = async (): Promise<void> => {
      busy = true;
      socket.pause();
      try {
        while (buffered.length >= 8 && live()) {
          // every complete frame received so far is accepted in one go (one log append), in order
          const group: Decoded[] = [];
          let oversized: bigint | undefined;
          while (buffered.length >= 8) {
            const length = buffered.readBigUInt64LE(0);
            if (length > BigInt(MAX_MESSAGE_BYTES)) {
              oversized = length;
              break;
            }
            const n = Number(length);
            if (buffered.length < 8 + n || group.length >= MAX_GROUP) break;
            const frame = Buffer.from(buffered.subarray(8, 8 + n));
            buffered = buffered.subarray(8 + n);
            const decoded = await this.intake.decode(frame);
            if (decoded) group.push(decoded);
          }
          if (group.length > 0) await acceptHolding(this.intake, group, live);
          if (oversized !== undefined) {
            // the stream cannot be trusted past a length like this: count it and hang up
            await this.intake.refuse(`frame length ${oversized} exceeds the limit of ${MAX_MESSAGE_BYTES} bytes (not Ceilometer's tcp:// framing?)`, buffered.subarray(0, 8));
            this.log?.warn({ length: oversized.toString() }, 'tcp:// frame longer than the limit: connection closed');
            socket.destroy();
            return;
          }
          if (group.length === 0 && (buffered.length < 8 || buffered.length < 8 + Number(buffered.readBigUInt64LE(0)))) break;
        }
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'tcp:// sample not accepted: connection closed (the publisher reconnects)');
        socket.destroy();
        return;
      } finally {
        busy = false;
      }
      if (live() && !socket.destroyed) socket.resume();
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (!busy) void drain();
    });
  }

  /** Stop accepting connections; frames in hand are finished, then the connections are closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.end();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
