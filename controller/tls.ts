import { X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { Server as HttpsServer, ServerOptions } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { TlsConfig } from './config';
import type { CertificateSubject } from './auth';
import { certificateValidityProblem } from '../lib/setting-file';

/**
 * The controller's HTTPS settings: PEM files read into node's TLS options, client certificates asked
 * for or required, and the certificate, key and CA swapped on the running server (setSecureContext)
 * when their files change or on SIGHUP, so a renewed certificate needs no restart.
 */

export const tlsEnabled = (tls: TlsConfig): boolean => Boolean(tls.cert && tls.key);

export class TlsSettingsError extends Error {}

function read(file: string | undefined, setting: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsSettingsError(`controller.tls.${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Cert, key and CA as node's TLS options; checked by building a secure context (a key that does not match the cert fails here, named). */
export function securePems(tls: TlsConfig): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const cert = read(tls.cert, 'cert')!;
  const key = read(tls.key, 'key')!;
  const ca = read(tls.ca, 'ca');
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new TlsSettingsError(`controller.tls.cert: ${tls.cert} is not a PEM certificate: ${(err as Error).message}`);
  }
  const problem = certificateValidityProblem(cert, tls.cert!, 'controller.tls.cert');
  if (problem) throw new TlsSettingsError(problem);
  if (ca) checkCaBundle(ca, tls.ca!);
  try {
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new TlsSettingsError(`controller.tls: cert ${tls.cert} / key ${tls.key}${ca ? ` / ca ${tls.ca}` : ''} are not usable together: ${(err as Error).message}`);
  }
  return { cert, key, ...(ca ? { ca } : {}) };
}

/**
 * controller.tls.ca must hold at least one parseable certificate that is valid now: node accepts any
 * text there without a word, and every client certificate would then be refused in the handshake.
 */
function checkCaBundle(ca: Buffer, file: string): void {
  const blocks = ca.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TlsSettingsError(`controller.tls.ca: ${file} holds no PEM certificate (expected the CA bundle client certificates chain to)`);
  const problems: string[] = [];
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new TlsSettingsError(`controller.tls.ca: ${file} holds a certificate that does not parse: ${(err as Error).message}`);
    }
    const problem = certificateValidityProblem(block, file, 'controller.tls.ca');
    if (problem) problems.push(problem);
  }
  // a bundle may keep an old root beside the current one; with none valid, no client certificate can chain
  if (problems.length === blocks.length) throw new TlsSettingsError(problems[0]!);
}

/** Options for `https.createServer` (fastify's `https`). */
export function httpsOptions(tls: TlsConfig): ServerOptions {
  return {
    ...securePems(tls),
    requestCert: tls.clientAuth !== 'none',
    // `require`: the handshake itself refuses a missing or untrusted client certificate
    rejectUnauthorized: tls.clientAuth === 'require',
    minVersion: 'TLSv1.2',
  };
}

/** The verified client certificate's subject of a request's socket, if any. */
export function verifiedPeerSubject(socket: unknown): CertificateSubject | undefined {
  const s = socket as Partial<TLSSocket> | undefined;
  if (!s || typeof s.getPeerCertificate !== 'function' || !s.authorized) return undefined;
  const cert = s.getPeerCertificate();
  if (!cert || !cert.subject || Object.keys(cert.subject).length === 0) return undefined;
  return cert.subject as unknown as CertificateSubject;
}

/** Swap cert/key/CA on a running HTTPS server. Throws (and keeps the old ones) when the new files are not usable. */
export function reloadCertificates(server: HttpsServer, tls: TlsConfig): void {
  server.setSecureContext(securePems(tls));
}

/**
 * Watch the cert, key and CA files; `onChange` runs (debounced, once per burst of writes) after any of
 * them changes. Watches the folders, so a file replaced by rename (how certificate tools and mounted
 * secrets update) is seen too. Returns a function that stops watching.
 */
export function watchCertificates(tls: TlsConfig, onChange: () => void, debounceMs = 200): () => void {
  const files = [tls.cert, tls.key, tls.ca].filter((f): f is string => Boolean(f));
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const dirs = new Map<string, Set<string>>();
  for (const f of files) {
    const slash = f.lastIndexOf('/');
    const dir = slash > 0 ? f.slice(0, slash) : '.';
    const name = f.slice(slash + 1);
    dirs.set(dir, (dirs.get(dir) ?? new Set()).add(name));
  }
  for (const [dir, names] of dirs) {
    try {
      const w = watch(dir, (_event, name) => {
        if (!name || names.has(String(name))) fire();
      });
      w.unref();
      watchers.push(w);
    } catch {
      /* a folder that cannot be watched: SIGHUP still reloads */
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
