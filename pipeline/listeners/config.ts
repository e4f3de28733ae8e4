import { z } from 'zod';

/**
 * Listeners for Ceilometer's `udp://` and `tcp://` publishers (one msgpack-encoded signed meter message
 * per datagram; over TCP each prefixed with its length as 8 bytes little-endian). Both default to
 * port 4952, Ceilometer's default for either publisher. See docs/ingestion.md for what UDP cannot promise.
 */
const listener = () =>
  z
    .strictObject({
      /** Whether the controller listens. Default false. */
      enabled: z.boolean().default(false),
      /** Address to bind. Default 127.0.0.1 (set 0.0.0.0 to take samples from other hosts). */
      host: z.string().min(1).default('127.0.0.1'),
      /** Port (Ceilometer's default for the publisher is 4952; 0 picks a free one). Default 4952. */
      port: z.number().int().min(0).max(65535).default(4952),
    })
    .prefault({});

/** Ceilometer's udp:// publisher: one msgpack datagram per sample. */
export const udpListenerConfig = listener();
/** Ceilometer's tcp:// publisher: 8-byte little-endian length + msgpack, per sample, on a long-lived connection. */
export const tcpListenerConfig = listener();
export type ListenerConfig = z.output<typeof udpListenerConfig>;

/** Largest msgpack message taken from either listener, in bytes (a meter message is well under 64 KiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
