import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureManaged, launchDaemon, type DaemonState, type Endpoint } from './managed';
import { HOST, KAFKA_LIBS, serviceDir } from './paths';
import {
  ServiceUnavailableError,
  choosePort,
  findExecutable,
  freePort,
  runToCompletion,
  waitUntil,
} from './proc';
import type { ServiceState } from './state';

export const KAFKA_VERSION = '3.9.1';
export const KAFKA_DEFAULT_PORT = 39092;
export const KAFKA_DEFAULT_CONTROLLER_PORT = 39093;
/** The line KafkaRaftServer logs once the broker serves clients (KafkaBroker.STARTED_MESSAGE). */
const STARTED_LINE = 'Kafka Server started';

/**
 * ApiVersions v0 over the Kafka wire protocol: true when the broker answers with error_code 0.
 * Cheaper than a client library and proves a real broker (not just an open port).
 */
export function kafkaApiVersionsOk(port: number, host = HOST, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const clientId = Buffer.from('metering-health');
    const correlationId = 0x4d455452;
    const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
    body.writeInt16BE(18, 0); // api_key ApiVersions
    body.writeInt16BE(0, 2); // api_version 0
    body.writeInt32BE(correlationId, 4);
    body.writeInt16BE(clientId.length, 8);
    clientId.copy(body, 10);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length, 0);
    let reply = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(Buffer.concat([size, body])));
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      if (reply.length >= 10) done(reply.readInt32BE(4) === correlationId && reply.readInt16BE(8) === 0);
    });
  });
}

/** The Kafka jars are in place (scripts/ensure.mjs fetches them with Maven). */
export function kafkaJarsPresent(libs = KAFKA_LIBS): boolean {
  return fs.existsSync(path.join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`));
}

/** The java binary to run the broker with: $JAVA_HOME/bin/java, else java on PATH. */
export function findJava(): string | undefined {
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  if (fromHome && fs.existsSync(fromHome)) return fromHome;
  return findExecutable('java');
}

function externalKafka(brokers: string): Endpoint {
  const list = brokers.split(',').map((b) => b.trim()).filter(Boolean);
  const bad = list.find((b) => !/^[^:\s]+:\d+$/.test(b));
  if (list.length === 0 || bad !== undefined) {
    throw new ServiceUnavailableError('kafka', `KAFKA_BROKERS=${brokers}: expected host:port[,host:port...]`);
  }
  return { service: 'kafka', address: list.join(','), external: true, started: false };
}

/**
 * A Kafka to talk to: `KAFKA_BROKERS` if set, else the managed single-node KRaft broker+controller
 * (Kafka 3.9.1 from Maven Central jars, run by Java 17) on 127.0.0.1, reused when already running.
 */
export async function ensureKafka(startedBy: string): Promise<Endpoint> {
  if (process.env.KAFKA_BROKERS) return externalKafka(process.env.KAFKA_BROKERS);
  return ensureManaged(
    'kafka',
    (state) => kafkaApiVersionsOk(state.ports[0]!),
    () => startKafka(startedBy),
  );
}

/** What every single-node broker the project starts needs besides its listeners. */
export const SINGLE_NODE_PROPERTIES: readonly string[] = [
  'num.partitions=1',
  // one node: internal topics must have replication factor 1 or consumer groups never get a coordinator
  'offsets.topic.replication.factor=1',
  'offsets.topic.num.partitions=1',
  'transaction.state.log.replication.factor=1',
  'transaction.state.log.min.isr=1',
  'transaction.state.log.num.partitions=1',
  // no 3 s wait before the first rebalance of a group (tests join groups all the time)
  'group.initial.rebalance.delay.ms=0',
  'auto.create.topics.enable=true',
  'delete.topic.enable=true',
];

export function serverProperties(brokerPort: number, controllerPort: number, dataDir: string): string {
  return [
    '# written by services/kafka.ts: single-node KRaft (combined broker+controller) on loopback',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${HOST}:${controllerPort}`,
    `listeners=PLAINTEXT://${HOST}:${brokerPort},CONTROLLER://${HOST}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${brokerPort}`,
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}`,
    ...SINGLE_NODE_PROPERTIES,
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=INFO, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.logger.kafka=INFO',
  'log4j.logger.org.apache.kafka=INFO',
  '',
].join('\n');

const TOOLS_LOG4J = [
  'log4j.rootLogger=WARN, stderr',
  'log4j.appender.stderr=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.appender.stderr.Target=System.err',
  '',
].join('\n');

function kafkaPrerequisites(): string {
  if (!kafkaJarsPresent()) {
    throw new ServiceUnavailableError(
      'kafka',
      `Kafka jars missing in ${KAFKA_LIBS}: run node scripts/ensure.mjs (Maven fetches Kafka ${KAFKA_VERSION} from Maven Central), or set KAFKA_BROKERS=host:port`,
    );
  }
  const java = findJava();
  if (!java) {
    throw new ServiceUnavailableError('kafka', 'java not found: apt-get install openjdk-17-jre-headless, or set KAFKA_BROKERS=host:port');
  }
  return java;
}

/**
 * Format a fresh KRaft data folder under `dir` with `properties` (Kafka's own StorageTool, which also
 * creates SCRAM credentials given as `--add-scram` arguments) and launch the broker; ready once it
 * logs that it started and answers ApiVersions on the plaintext `checkPort`.
 */
export async function launchKafka(opts: {
  dir: string;
  properties: string;
  checkPort: number;
  state: DaemonState;
  /** `SCRAM-SHA-256=[name=alice,password=…]` entries for StorageTool's --add-scram. */
  scram?: string[];
}): Promise<ServiceState> {
  const java = kafkaPrerequisites();
  const { dir } = opts;
  const dataDir = path.join(dir, 'data');
  const logsDir = path.join(dir, 'logs');
  // every start is a fresh cluster: no state leaks from one run into the next
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  fs.mkdirSync(logsDir, { recursive: true });
  const propsFile = path.join(dir, 'server.properties');
  fs.writeFileSync(propsFile, opts.properties.replaceAll('${DATA_DIR}', dataDir));
  fs.writeFileSync(path.join(dir, 'log4j.properties'), LOG4J);
  fs.writeFileSync(path.join(dir, 'tools-log4j.properties'), TOOLS_LOG4J);

  const classpath = path.join(KAFKA_LIBS, '*');
  const common = [`-Dkafka.logs.dir=${logsDir}`, '-Djava.awt.headless=true'];
  const clusterId = randomBytes(16).toString('base64url');
  const format = runToCompletion(
    java,
    ['-Xmx256M', ...common, `-Dlog4j.configuration=file:${path.join(dir, 'tools-log4j.properties')}`,
      '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile,
      ...(opts.scram ?? []).flatMap((entry) => ['--add-scram', entry])],
    dir,
    120_000,
  );
  if (format.code !== 0) {
    throw new ServiceUnavailableError('kafka', `Kafka storage format failed (exit ${format.code}):\n${format.output.trim()}`);
  }

  const heap = process.env.METERING_KAFKA_HEAP ?? '512M';
  const jvm = [
    `-Xmx${heap}`, '-Xms128M',
    '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent', '-XX:MaxInlineLevel=15',
    // C1 only: starts faster and burns less CPU on a small shared machine; plenty for tests
    '-XX:TieredStopAtLevel=1',
    ...common,
    `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
  ];
  const logFile = path.join(logsDir, 'server.log');
  const timeoutMs = Number(process.env.METERING_KAFKA_START_TIMEOUT_MS ?? 180_000);
  return launchDaemon(
    { cmd: java, args: [...jvm, '-cp', classpath, 'kafka.Kafka', propsFile], logFile, cwd: dir, tailLines: 25 },
    (exited) =>
      waitUntil(
        `Kafka ${KAFKA_VERSION} on ${HOST}:${opts.checkPort}`,
        async () => {
          const log = fs.readFileSync(logFile, 'utf8');
          if (!log.includes(STARTED_LINE)) return undefined;
          return (await kafkaApiVersionsOk(opts.checkPort)) ? true : undefined;
        },
        timeoutMs,
        exited,
        300,
      ),
    opts.state,
  );
}

async function startKafka(startedBy: string): Promise<ServiceState> {
  kafkaPrerequisites();
  const brokerPort = await choosePort('kafka', 'METERING_KAFKA_PORT', KAFKA_DEFAULT_PORT);
  let controllerPort = await choosePort('kafka', 'METERING_KAFKA_CONTROLLER_PORT', KAFKA_DEFAULT_CONTROLLER_PORT);
  while (controllerPort === brokerPort) controllerPort = await freePort();
  return launchKafka({
    dir: serviceDir('kafka'),
    properties: serverProperties(brokerPort, controllerPort, '${DATA_DIR}'),
    checkPort: brokerPort,
    state: { service: 'kafka', ports: [brokerPort, controllerPort], address: `${HOST}:${brokerPort}`, program: `java kafka.Kafka (${KAFKA_VERSION}, KRaft)`, startedBy },
  });
}
