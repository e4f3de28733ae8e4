import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureManaged, launchDaemon, type Endpoint } from './managed';
import { HOST, serviceDir } from './paths';
import { ServiceUnavailableError, choosePort, freePort, portOpen, waitUntil } from './proc';
import type { ServiceState } from './state';

/** Default AMQP port of the managed RabbitMQ (not 5672, so it never clashes with a broker someone runs). */
export const RABBITMQ_DEFAULT_PORT = 39672;

/** Debian's rabbitmq-server start script (the /usr/sbin wrapper would switch to the rabbitmq user). */
const DEBIAN_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/**
 * Open an AMQP 0-9-1 connection far enough to read the broker's first frame: true when it is a
 * method frame (Connection.Start). Proves a real broker that takes clients, not just an open port.
 */
export function amqpHandshakeOk(port: number, host = HOST, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = Buffer.alloc(0);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      // frame: type 1 (method), channel 0, size, then class 10 (connection) method 10 (start)
      if (reply.length >= 11) done(reply[0] === 1 && reply.readUInt16BE(7) === 10 && reply.readUInt16BE(9) === 10);
    });
  });
}

function externalRabbitMq(url: string): Promise<Endpoint> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ServiceUnavailableError('rabbitmq', `AMQP_URL=${url} is not a URL (expected amqp://user:password@host:port/vhost)`);
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new ServiceUnavailableError('rabbitmq', `AMQP_URL=${url}: expected an amqp:// or amqps:// URL`);
  }
  const port = Number(parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672));
  return portOpen(port, parsed.hostname).then((open) => {
    if (!open) throw new ServiceUnavailableError('rabbitmq', `AMQP_URL=${url} is set but nothing answers at ${parsed.hostname}:${port}`);
    return { service: 'rabbitmq', address: url, external: true, started: false };
  });
}

/** The rabbitmq-server start script, or undefined when the Debian package is not installed. */
export function findRabbitMqServer(): string | undefined {
  const bin = process.env.METERING_RABBITMQ_SERVER || DEBIAN_SERVER;
  return fs.existsSync(bin) ? bin : undefined;
}

export interface RabbitMqInstance {
  /** State, data (mnesia) and logs live here. */
  dir: string;
  port: number;
  /** Erlang node name, unique per instance on this machine (e.g. `metering-39672@localhost`). */
  nodeName?: string;
  startedBy: string;
  /** How long to wait for the broker to take clients, in ms. Default 90000. */
  timeoutMs?: number;
  /**
   * A TLS (amqps) listener on 127.0.0.1:`port` beside the plain one, with this server certificate and
   * CA; `requireClientCert` makes the broker refuse clients without a certificate its CA signed.
   */
  tls?: { port: number; ca: string; cert: string; key: string; requireClientCert?: boolean };
}

/**
 * Start Debian's rabbitmq-server as a plain process (no systemd, no rabbitmq user) with its own
 * node name, AMQP port, distribution port, data and log directories under `dir`, and wait until it
 * answers the AMQP handshake. The default guest/guest user may connect because it binds to 127.0.0.1
 * only. The recorded pid is the start script, which stops the broker cleanly on SIGTERM.
 * Exported for tests that need a broker of their own to restart.
 */
/**
 * The Erlang distribution port of an instance: AMQP port + 20000 when that is a port number and free
 * (the same instance keeps the same one across restarts), otherwise a free port (a high AMQP port,
 * e.g. one a test picked at random, would give a number above 65535 and the broker would not start).
 */
export async function distributionPort(amqpPort: number): Promise<number> {
  const derived = amqpPort + 20000;
  return derived <= 65535 && !(await portOpen(derived, HOST)) ? derived : freePort();
}

export async function launchRabbitMq(instance: RabbitMqInstance): Promise<ServiceState> {
  const bin = findRabbitMqServer();
  if (!bin) {
    throw new ServiceUnavailableError(
      'rabbitmq',
      `rabbitmq-server not found (${DEBIAN_SERVER}): apt-get install rabbitmq-server (or run node scripts/ensure.mjs as root), or set AMQP_URL=amqp://user:password@host:port`,
    );
  }
  const { dir, port } = instance;
  const nodeName = instance.nodeName ?? `metering-${port}@localhost`;
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'rabbitmq.log');
  const confBase = path.join(dir, 'rabbitmq');
  // no management plugin; a small disk floor so a nearly full CI disk still works (the AMQP listener,
  // on loopback only, comes from RABBITMQ_NODE_IP_ADDRESS / RABBITMQ_NODE_PORT below)
  const tls = instance.tls
    ? [
        `listeners.ssl.1 = ${HOST}:${instance.tls.port}`,
        `ssl_options.cacertfile = ${instance.tls.ca}`,
        `ssl_options.certfile = ${instance.tls.cert}`,
        `ssl_options.keyfile = ${instance.tls.key}`,
        'ssl_options.verify = verify_peer',
        `ssl_options.fail_if_no_peer_cert = ${instance.tls.requireClientCert ? 'true' : 'false'}`,
      ]
    : [];
  fs.writeFileSync(`${confBase}.conf`, ['disk_free_limit.absolute = 50MB', 'log.console = true', 'log.file = false', ...tls, ''].join('\n'));
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // the Erlang cookie is written to $HOME: keep it inside the instance directory
    HOME: dir,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(port),
    // inter-node (distribution) port: derived from the AMQP port so two instances never share one
    RABBITMQ_DIST_PORT: String(await distributionPort(port)),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: confBase,
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
    RABBITMQ_LOGS: '-',
  };
  return launchDaemon(
    { cmd: bin, args: [], logFile, cwd: dir, env, tailLines: 25 },
    (exited) =>
      waitUntil(`rabbitmq-server on ${HOST}:${port}`, async () => ((await amqpHandshakeOk(port)) && (!instance.tls || (await portOpen(instance.tls.port, HOST))) ? true : undefined), instance.timeoutMs ?? 90_000, exited, 300),
    { service: 'rabbitmq', ports: [port, port + 20000, ...(instance.tls ? [instance.tls.port] : [])], address: `amqp://guest:guest@${HOST}:${port}`, program: bin, startedBy: instance.startedBy },
  );
}

/**
 * A RabbitMQ to talk to: `AMQP_URL` if set, else the managed broker (Debian's rabbitmq-server) on
 * 127.0.0.1:39672 (`METERING_RABBITMQ_PORT` overrides), state in .services/rabbitmq, reused when
 * already running.
 */
export async function ensureRabbitMq(startedBy: string): Promise<Endpoint> {
  if (process.env.AMQP_URL) return externalRabbitMq(process.env.AMQP_URL);
  return ensureManaged(
    'rabbitmq',
    (state) => amqpHandshakeOk(state.ports[0]!),
    async () => {
      const port = await choosePort('rabbitmq', 'METERING_RABBITMQ_PORT', RABBITMQ_DEFAULT_PORT);
      return launchRabbitMq({ dir: serviceDir('rabbitmq'), port, startedBy });
    },
  );
}
