/**
 * HTTPS towards a controller with its own CA and mutual TLS (controller.tls, docs/security.md): the
 * agent's `--ca`, `--cert`, `--key`. Node's global fetch takes neither a CA nor a client certificate
 * per request, so with these options the agent's HTTP requests (registration, an https:// publish
 * destination, `agent top`) go through node:https with one keep-alive agent holding them, and are
 * answered as a fetch `Response`. Plain http:// URLs keep using the global fetch.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { certificateValidityProblem } from '../lib/setting-file';

/** Paths of PEM files: the CA the controller's certificate chains to, the agent's certificate and key. */
export interface ClientTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The PEM contents of those files, checked to be usable together. */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export type FetchLike = (url: string | URL, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<Response>;

export class ClientTlsError extends Error {}

function read(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ClientTlsError(`${flag}: cannot read ${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
  }
}

/**
 * Read and check the files; undefined when none is given. Throws ClientTlsError naming the option:
 * a missing or unreadable file, a certificate without its key (or the reverse), a key that does not
 * belong to the certificate, a certificate that expired or is not yet valid, a CA file without a
 * certificate in it.
 */
export function loadClientTls(files: ClientTlsFiles, now = Date.now(), names: { ca: string; cert: string; key: string } = { ca: '--ca', cert: '--cert', key: '--key' }): ClientTls | undefined {
  if (!files.ca && !files.cert && !files.key) return undefined;
  if (Boolean(files.cert) !== Boolean(files.key)) throw new ClientTlsError(`${files.cert ? names.key : names.cert}: ${names.cert} and ${names.key} go together (the agent's client certificate and its private key)`);
  const pem: ClientTls = {};
  if (files.ca) pem.ca = read(files.ca, names.ca);
  if (files.cert) pem.cert = read(files.cert, names.cert);
  if (files.key) pem.key = read(files.key, names.key);
  if (pem.ca !== undefined) {
    try {
      new X509Certificate(pem.ca);
    } catch (err) {
      throw new ClientTlsError(`${names.ca}: ${files.ca} holds no PEM certificate (${(err as Error).message})`);
    }
  }
  if (pem.cert !== undefined) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem.cert);
    } catch (err) {
      throw new ClientTlsError(`${names.cert}: ${files.cert} holds no PEM certificate (${(err as Error).message})`);
    }
    const problem = certificateValidityProblem(cert.raw, files.cert!, names.cert, now);
    if (problem) throw new ClientTlsError(problem);
  }
  try {
    createSecureContext(pem);
  } catch (err) {
    throw new ClientTlsError(`${names.cert}/${names.key}: ${files.cert} and ${files.key} are not usable together: ${(err as Error).message}`);
  }
  return pem;
}

/** Most seconds one request may take (connection, TLS handshake, answer). */
const TIMEOUT_MS = 30_000;

/**
 * A fetch for https:// URLs with this CA and client certificate (http:// URLs go to the global
 * fetch). Failures reject like fetch's: TypeError('fetch failed') with the reason as `cause`.
 */
export function httpsFetch(tls: ClientTls): FetchLike {
  const agent = new https.Agent({ keepAlive: true, ...tls });
  return (url, init = {}) => {
    const u = new URL(url);
    if (u.protocol !== 'https:') return fetch(u, init);
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(u, { method: init.method ?? 'GET', headers: init.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
        res.on('end', () => {
          const status = res.statusCode ?? 502;
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) for (const one of v === undefined ? [] : Array.isArray(v) ? v : [v]) headers.append(k, one);
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
        });
      });
      req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer from ${u.origin} within ${TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
      req.end(init.body);
    });
  };
}
