/**
 * Where `metering replay-traces --to …` sends samples, parsed from the target URL the way
 * Ceilometer's publishers read theirs:
 *  - `http://user:TOKEN@host:port/v1/samples` (the http:// publisher; URL userinfo goes out as HTTP
 *    Basic, whose password the controller takes as the bearer token);
 *  - `kafka://host:port[,host:port]?topic=ceilometer` (the kafka:// publisher).
 */

export type ReplayTarget =
  | { kind: 'http'; url: string; display: string; authorization?: string }
  | { kind: 'kafka'; brokers: string[]; topic: string; display: string };

export class TargetError extends Error {}

/** Parse `--to` (and `--token`, which wins over URL credentials and is sent as Bearer). */
export function parseTarget(to: string, token?: string): ReplayTarget {
  if (/^kafka:\/\//i.test(to)) return parseKafkaTarget(to);
  let u: URL;
  try {
    u = new URL(to);
  } catch {
    throw new TargetError(`--to: not a URL: ${JSON.stringify(to)} (expected http://[user:TOKEN@]host:port/v1/samples or kafka://host:port?topic=ceilometer)`);
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    let authorization: string | undefined;
    if (token) authorization = `Bearer ${token}`;
    else if (u.password || u.username) {
      const cred = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
      authorization = `Basic ${Buffer.from(cred, 'utf8').toString('base64')}`;
    }
    const path = u.pathname === '/' || u.pathname === '' ? '/v1/samples' : u.pathname;
    const clean = `${u.protocol}//${u.host}${path}${u.search}`;
    return { kind: 'http', url: clean, display: clean, ...(authorization ? { authorization } : {}) };
  }
  throw new TargetError(`--to: unsupported scheme "${u.protocol.replace(/:$/, '')}" in ${to} (use http:// or kafka://)`);
}

/** kafka://host:port[,host:port]?topic=… (URL cannot hold a broker list in its host). */
function parseKafkaTarget(to: string): ReplayTarget {
  const rest = to.slice('kafka://'.length);
  const q = rest.indexOf('?');
  const hostPart = (q === -1 ? rest : rest.slice(0, q)).replace(/\/+$/, '');
  const params = new URLSearchParams(q === -1 ? '' : rest.slice(q + 1));
  const brokers = hostPart.split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new TargetError(`--to: ${to}: no broker (expected kafka://host:port?topic=ceilometer)`);
  for (const b of brokers) {
    if (!/^[^:\s/]+:\d+$/.test(b)) throw new TargetError(`--to: ${to}: broker "${b}" is not host:port`);
  }
  const topic = params.get('topic') ?? 'ceilometer';
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) throw new TargetError(`--to: ${to}: topic "${topic}" is not a valid Kafka topic name`);
  return { kind: 'kafka', brokers, topic, display: `kafka://${brokers.join(',')}?topic=${topic}` };
}
