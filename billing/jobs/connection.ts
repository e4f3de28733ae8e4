import { readCertificateSetting, readSettingFile, SERVER_CERT_EXPIRED } from '../../lib/setting-file';
import type { ConnectionOptions } from 'node:tls';

/** ioredis/BullMQ connection options for a redis:// or rediss:// (TLS) URL (workers need maxRetriesPerRequest: null). */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: ConnectionOptions;
  maxRetriesPerRequest: null;
}

/** PEM files for rediss:// (redis.tls): the CA the server's certificate chains to, a client certificate and key. */
export interface RedisTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export function redisConnectionOptions(url: string, tlsFiles: RedisTlsFiles = {}): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`redis.url: "${redactedRedisUrl(url)}" is not a URL (expected redis://host:port[/db] or rediss:// for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis.url: "${redactedRedisUrl(url)}" must start with redis:// (or rediss:// for TLS)`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new Error(`redis.url: database "${u.pathname.slice(1)}" is not a number`);
  let tls: ConnectionOptions | undefined;
  if (u.protocol === 'rediss:') {
    const ca = readSettingFile(tlsFiles.ca, 'redis.tls.ca');
    const cert = readCertificateSetting(tlsFiles.cert, 'redis.tls.cert');
    const key = readSettingFile(tlsFiles.key, 'redis.tls.key');
    tls = { servername: u.hostname, rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(tls ? { tls } : {}),
    maxRetriesPerRequest: null,
  };
}

/** Why Redis could not be used, naming the setting: TLS problems point at redis.url (rediss://) and redis.tls, refused credentials at the URL's password. */
export function explainRedisFailure(err: Error, url: string): string {
  const text = err.message || err.name;
  const where = redactedRedisUrl(url);
  if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(text)) return `redis.url: Redis at ${where} refused the credentials in the URL: ${text}`;
  if (SERVER_CERT_EXPIRED.test(text)) return `redis.url: the certificate of Redis at ${where} has expired: ${text} (renew it on the server; nothing in redis.tls can fix that)`;
  if (/certificate|self[- ]signed|SSL|TLS|handshake|CERT_|wrong version number/i.test(text)) return `redis.url/redis.tls: TLS with Redis at ${where} failed: ${text} (rediss:// speaks TLS; redis.tls.ca is the CA its certificate chains to)`;
  return `redis at ${where} unreachable: ${text}`;
}

/** The URL without credentials, for messages and logs. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
