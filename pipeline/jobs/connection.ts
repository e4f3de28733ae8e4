/** ioredis/BullMQ connection options for a redis:// URL (workers need maxRetriesPerRequest: null). */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  maxRetriesPerRequest: null;
}

export function redisConnectionOptions(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`redis.url: "${url}" is not a URL (expected redis://host:port[/db])`);
  }
  if (u.protocol !== 'redis:') throw new Error(`redis.url: "${url}" must start with redis://`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new Error(`redis.url: database "${u.pathname.slice(1)}" is not a number`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The URL without credentials, for messages and logs. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
