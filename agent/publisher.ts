/**
 * Where window samples go (`--publish URL`), as Ceilometer's own publishers send them:
 *  - `http://[user:TOKEN@]host:port/v1/samples` (token also by --token): a JSON list; signed counter_*
 *    messages when a telemetry secret is set, else `as_dict` items. 429/503 are waited out.
 *  - `kafka://host:port[,host:port]?topic=ceilometer`: one signed counter_* message per Kafka message
 *    (with Ceilometer's default secret when none is set, as Ceilometer does).
 *  - `file:PATH`: JSON lines of `as_dict` items, fsynced per batch.
 * `send` resolves only when the destination took the batch and throws otherwise, so the spool keeps it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Sample } from '../pipeline/sample';
import { asDict, CEILOMETER_DEFAULT_SECRET } from '../pipeline/replay/encode';
import { HttpSink } from '../pipeline/replay/http-sink';
import type { KafkaSink } from '../pipeline/replay/kafka-sink';
import { parseTarget, TargetError } from '../pipeline/replay/target';
import type { FetchLike } from './tls-client';

export interface Publisher {
  /** Where, without credentials. */
  readonly display: string;
  /**
   * Resolves when the destination took the batch; `rejected` counts samples it refused as invalid
   * (the controller dead-letters them with the reason: sending them again would not help).
   */
  send(samples: readonly Sample[]): Promise<SendResult>;
  close(): Promise<void>;
}

export interface SendResult {
  rejected: number;
  reasons: string[];
}

const TAKEN: SendResult = { rejected: 0, reasons: [] };

export class PublishError extends Error {}

export interface PublisherOptions {
  /** Bearer token for http:// (wins over URL userinfo). */
  token?: string;
  /** Ceilometer telemetry secret ('' = unsigned http). */
  secret: string;
  /** For https:// destinations with a private CA or mutual TLS (`--ca`, `--cert`, `--key`; agent/tls-client.ts). */
  fetch?: FetchLike;
}

export function createPublisher(url: string, opts: PublisherOptions): Publisher {
  if (url.startsWith('file:')) {
    const file = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new PublishError(`--publish ${url}: no path after file:`);
    return filePublisher(path.resolve(file));
  }
  let target;
  try {
    target = parseTarget(url, opts.token);
  } catch (err) {
    if (err instanceof TargetError) throw new PublishError(err.message.replace(/--to/g, '--publish').replace('(use http:// or kafka://)', '(use http://, kafka:// or file:PATH)'));
    throw err;
  }
  if (target.kind === 'http') {
    const t = target;
    return {
      display: t.display,
      async send(samples) {
        // a fresh sink per attempt: a failed attempt leaves nothing behind; the spool retries later
        const sink = new HttpSink({ url: t.url, authorization: t.authorization, form: opts.secret ? 'counter' : 'as_dict', secret: opts.secret, maxConnectionRetries: 0, maxRetryAfterS: 30, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
        try {
          await sink.send(samples);
          await sink.close();
        } catch (err) {
          throw new PublishError((err as Error).message);
        }
        return { rejected: sink.totals.rejected ?? 0, reasons: sink.rejectReasons };
      },
      async close() {},
    };
  }
  const k = target;
  let sink: KafkaSink | undefined;
  return {
    display: k.display,
    async send(samples) {
      try {
        // kafkajs is loaded only by agents that publish to Kafka
        sink ??= await (await import('../pipeline/replay/kafka-sink')).KafkaSink.connect({ brokers: k.brokers, topic: k.topic, form: 'counter', secret: opts.secret || CEILOMETER_DEFAULT_SECRET });
        await sink.send(samples);
        return TAKEN;
      } catch (err) {
        const s = sink;
        sink = undefined;
        await s?.close().catch(() => undefined);
        throw new PublishError(`${k.display}: ${(err as Error).message}`);
      }
    },
    async close() {
      await sink?.close().catch(() => undefined);
    },
  };
}

function filePublisher(file: string): Publisher {
  mkdirSync(path.dirname(file), { recursive: true });
  return {
    display: `file:${file}`,
    async send(samples) {
      const fd = openSync(file, 'a');
      try {
        writeSync(fd, samples.map((s) => JSON.stringify(asDict(s)) + '\n').join(''));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return TAKEN;
    },
    async close() {},
  };
}
