import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';

/**
 * X.509 certificates made on the spot, for the demo's `--tls` mode and the TLS tests: a private CA,
 * server certificates for 127.0.0.1/localhost and client certificates with a chosen subject. Keys
 * come from node:crypto (fast, native); node-forge only builds and signs the certificates (node has
 * no API to issue one), with any validity window, including already expired ones.
 */

export interface Pem {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** Common name of the subject. */
  cn: string;
  /** Organisational unit (optional), e.g. the role a client certificate stands for. */
  ou?: string;
  /** DNS names and IP addresses the certificate is valid for (servers). */
  altNames?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** 'server' (serverAuth), 'client' (clientAuth) or 'ca'. */
  usage: 'server' | 'client' | 'ca';
}

const DAY = 86_400_000;

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function subjectOf(o: IssueOptions): forge.pki.CertificateField[] {
  return [{ name: 'commonName', value: o.cn }, ...(o.ou ? [{ name: 'organizationalUnitName', value: o.ou }] : []), { name: 'organizationName', value: 'metering' }];
}

function build(o: IssueOptions, publicKey: forge.pki.PublicKey, issuer: { subject: forge.pki.CertificateField[]; key: forge.pki.rsa.PrivateKey }): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - DAY);
  cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 365 * DAY);
  cert.setSubject(subjectOf(o));
  cert.setIssuer(issuer.subject);
  const ext: object[] = [];
  if (o.usage === 'ca') {
    ext.push({ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true });
  } else {
    ext.push({ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true });
    ext.push({ name: 'extKeyUsage', serverAuth: o.usage === 'server', clientAuth: o.usage === 'client' });
  }
  if (o.altNames?.length) {
    ext.push({ name: 'subjectAltName', altNames: o.altNames.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? { type: 7, ip: n } : { type: 2, value: n })) });
  }
  cert.setExtensions(ext);
  cert.sign(issuer.key, forge.md.sha256.create());
  return cert;
}

/** A certificate authority that can issue server and client certificates. */
export class TestCa {
  readonly cert: string;
  readonly key: string;
  private readonly subject: forge.pki.CertificateField[];
  private readonly forgeKey: forge.pki.rsa.PrivateKey;

  constructor(cn = 'metering test CA', validity: { notBefore?: Date; notAfter?: Date } = {}) {
    const keys = rsaKeys();
    const options: IssueOptions = { cn, usage: 'ca', ...validity };
    const cert = build(options, keys.publicKey, { subject: subjectOf(options), key: keys.privateKey });
    this.cert = forge.pki.certificateToPem(cert);
    this.key = keys.pem;
    this.subject = subjectOf(options);
    this.forgeKey = keys.privateKey;
  }

  issue(options: IssueOptions): Pem {
    const keys = rsaKeys();
    const cert = build(options, keys.publicKey, { subject: this.subject, key: this.forgeKey });
    return { cert: forge.pki.certificateToPem(cert), key: keys.pem };
  }

  /** A server certificate for this machine's loopback names. */
  server(cn = 'localhost', validity: { notBefore?: Date; notAfter?: Date } = {}): Pem {
    return this.issue({ cn, usage: 'server', altNames: ['localhost', '127.0.0.1', '::1'], ...validity });
  }

  client(cn: string, ou?: string, validity: { notBefore?: Date; notAfter?: Date } = {}): Pem {
    return this.issue({ cn, ou, usage: 'client', ...validity });
  }
}

/** Write `{name}.crt` / `{name}.key` (and the CA) into `dir`; returns the file paths. */
export function writePem(dir: string, name: string, pem: Pem): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  writeFileSync(cert, pem.cert);
  writeFileSync(key, pem.key, { mode: 0o600 });
  return { cert, key };
}
