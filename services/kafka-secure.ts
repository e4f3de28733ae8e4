import fs from 'node:fs';
import path from 'node:path';
import { launchKafka, KAFKA_VERSION, SINGLE_NODE_PROPERTIES } from './kafka';
import { HOST } from './paths';
import { freePort, stopPid } from './proc';

/**
 * A Kafka broker that only talks to clients over SASL_SSL, as production clusters commonly require:
 * TLS with a certificate from a given CA (client certificates optional or required) and SASL with
 * SCRAM-SHA-256, SCRAM-SHA-512 (users created by Kafka's own StorageTool, `--add-scram`) and PLAIN.
 * The broker talks to itself over a loopback-only plaintext listener, which also serves the readiness
 * probe. Started per test (or by the demo's --tls mode) in its own folder; `stop()` ends it.
 */

export interface SaslUser {
  name: string;
  password: string;
}

export interface SecureKafkaOptions {
  /** Folder for data, logs and the PEM files the broker reads. */
  dir: string;
  /** The broker's certificate and key (PEM), issued for 127.0.0.1 / localhost. */
  server: { cert: string; key: string };
  /** CA bundle (PEM) the broker trusts for client certificates. */
  ca: string;
  /** `required`: clients must present a certificate from `ca`. Default `none`. */
  clientAuth?: 'none' | 'requested' | 'required';
  /** Users for SCRAM-SHA-256 and SCRAM-SHA-512 (created with Kafka's own tooling) and PLAIN. */
  users: SaslUser[];
}

export interface SecureKafka {
  /** bootstrap address of the SASL_SSL listener */
  brokers: string[];
  logFile: string;
  stop(): Promise<void>;
}

const jaasQuote = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export function secureServerProperties(ports: { client: number; internal: number; controller: number }, files: { keystore: string; truststore: string }, clientAuth: string, users: SaslUser[]): string {
  const plainUsers = users.map((u) => `user_${u.name}="${jaasQuote(u.password)}"`).join(' ');
  return [
    '# written by services/kafka-secure.ts: single-node KRaft, clients over SASL_SSL only',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${HOST}:${ports.controller}`,
    `listeners=SASL_SSL://${HOST}:${ports.client},INTERNAL://${HOST}:${ports.internal},CONTROLLER://${HOST}:${ports.controller}`,
    `advertised.listeners=SASL_SSL://${HOST}:${ports.client},INTERNAL://${HOST}:${ports.internal}`,
    'inter.broker.listener.name=INTERNAL',
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL',
    'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${files.keystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${files.truststore}`,
    // for SASL_SSL listeners Kafka applies ssl.client.auth only when listener-prefixed (KIP-684)
    `listener.name.sasl_ssl.ssl.client.auth=${clientAuth}`,
    'log.dirs=${DATA_DIR}',
    ...SINGLE_NODE_PROPERTIES,
    '',
  ].join('\n');
}

export async function startSecureKafka(opts: SecureKafkaOptions): Promise<SecureKafka> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const keystore = path.join(opts.dir, 'broker-keystore.pem');
  const truststore = path.join(opts.dir, 'broker-truststore.pem');
  // a PEM keystore is the private key followed by the certificate chain
  fs.writeFileSync(keystore, `${opts.server.key.trim()}\n${opts.server.cert.trim()}\n`, { mode: 0o600 });
  fs.writeFileSync(truststore, opts.ca);
  const ports = { client: await freePort(), internal: await freePort(), controller: await freePort() };
  while (new Set(Object.values(ports)).size < 3) ports.controller = await freePort();
  const state = await launchKafka({
    dir: opts.dir,
    properties: secureServerProperties(ports, { keystore, truststore }, opts.clientAuth ?? 'none', opts.users),
    checkPort: ports.internal,
    scram: opts.users.flatMap((u) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].map((m) => `${m}=[name=${u.name},password=${u.password}]`)),
    state: { service: 'kafka', ports: [ports.client, ports.internal, ports.controller], address: `${HOST}:${ports.client}`, program: `java kafka.Kafka (${KAFKA_VERSION}, KRaft, SASL_SSL)`, startedBy: 'tests' },
  });
  return {
    brokers: [`${HOST}:${ports.client}`],
    logFile: state.logFile,
    stop: () => stopPid(state.pid),
  };
}
