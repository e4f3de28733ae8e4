import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** node's verification error for a server certificate past its notAfter (the fix is on the server, not in a CA setting). */
export const SERVER_CERT_EXPIRED = /certificate has expired|CERT_HAS_EXPIRED/;

/** The text of a file a setting names (PEM certificates, keys, CAs), or an Error naming the setting; undefined when unset. */
export function readSettingFile(file: string | undefined, setting: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Why the certificate (first PEM block, the leaf) a setting names cannot be presented now: expired, or
 * not valid yet; undefined when it is valid (or is no certificate: the TLS library says so then).
 * Checked before dialling, because a server refusing an expired client certificate says only
 * "handshake failure" or "bad certificate", without naming which setting holds it.
 */
export function certificateValidityProblem(pem: string | Buffer, file: string, setting: string, now = Date.now()): string | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pem);
  } catch {
    return undefined;
  }
  const subject = leaf.subject.replace(/\n/g, ',');
  if (Date.parse(leaf.validTo) <= now) return `${setting}: the certificate in ${file} (${subject}) expired on ${new Date(leaf.validTo).toISOString()}`;
  if (Date.parse(leaf.validFrom) > now) return `${setting}: the certificate in ${file} (${subject}) is not valid before ${new Date(leaf.validFrom).toISOString()}`;
  return undefined;
}

/** `readSettingFile` for a client certificate: an expired or not yet valid one is an Error naming the setting. */
export function readCertificateSetting(file: string | undefined, setting: string): string | undefined {
  const pem = readSettingFile(file, setting);
  const problem = pem === undefined ? undefined : certificateValidityProblem(pem, file!, setting);
  if (problem) throw new Error(problem);
  return pem;
}
