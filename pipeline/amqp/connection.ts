import type { ConnectionOptions } from 'node:tls';
import { readCertificateSetting, readSettingFile, SERVER_CERT_EXPIRED } from '../../lib/setting-file';
import type { AmqpConfig } from './config';

/**
 * How the RabbitMQ consumer connects: socket options for amqps:// (TLS with the configured CA and
 * client certificate; amqplib hands them to tls.connect), and start-up errors that name the setting
 * to fix. Credentials never appear in a message.
 */

/** The URL without credentials, for messages and logs. */
export function redactedAmqpUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** TLS socket options for an amqps:// URL (undefined for amqp://); an unreadable file is an Error naming its setting. */
export function amqpTlsOptions(config: Pick<AmqpConfig, 'url' | 'tls'>): ConnectionOptions | undefined {
  const u = new URL(config.url);
  if (u.protocol !== 'amqps:') return undefined;
  const ca = readSettingFile(config.tls.ca, 'amqp.tls.ca');
  const cert = readCertificateSetting(config.tls.cert, 'amqp.tls.cert');
  const key = readSettingFile(config.tls.key, 'amqp.tls.key');
  return { servername: u.hostname, rejectUnauthorized: true, ...(ca ? { ca: [ca] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** A failed first connection, explained: which setting to look at. */
export function explainAmqpFailure(err: Error, config: Pick<AmqpConfig, 'url' | 'tls'>): string {
  const text = err.message || err.name;
  const where = redactedAmqpUrl(config.url);
  const tls = config.url.startsWith('amqps:');
  if (/ACCESS_REFUSED|PLAIN login refused|authentication/i.test(text)) return `amqp.url: RabbitMQ at ${where} refused the credentials in the URL: ${text}`;
  if (SERVER_CERT_EXPIRED.test(text)) return `amqp.url: the certificate of RabbitMQ at ${where} has expired: ${text} (renew it on the broker; nothing in amqp.tls can fix that)`;
  if (/certificate required|alert.*(certificate|handshake)|tlsv1 alert|bad certificate|peer did not return a certificate/i.test(text)) {
    return `amqp.tls.cert/amqp.tls.key: RabbitMQ at ${where} refused the TLS client (it asks for a client certificate its CA signed): ${text}`;
  }
  if (/certificate|self[- ]signed|CERT_|unable to (get|verify)|altnames|Hostname\/IP does not match/i.test(text)) {
    return `amqp.tls.ca: the certificate of RabbitMQ at ${where} is not trusted: ${text} (amqp.tls.ca is the CA it chains to; it must name the URL's host)`;
  }
  if (tls && /wrong version number|ECONNRESET|socket hang up|EPROTO|Socket closed abruptly/i.test(text)) {
    return `amqp.url: TLS with RabbitMQ at ${where} failed: ${text} (amqps:// must point at the broker's TLS listener, usually port 5671)`;
  }
  if (!tls && /Socket closed abruptly|ECONNRESET|Unexpected close|Frame size exceeds/i.test(text)) {
    return `amqp.url: RabbitMQ at ${where} closed the connection: ${text} (a TLS listener needs amqps://)`;
  }
  return `amqp.url: RabbitMQ at ${where} unreachable: ${text}`;
}
