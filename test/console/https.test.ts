import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../app/config';
import { chromiumPath, launchChromium, signIn } from '../../console/browser';
import { buildConsoleAssets } from '../../console/bundle';
import { consoleRoutes } from '../../console/routes';
import { ProductMetrics } from '../../controller/metrics';
import { buildController } from '../../controller/server';
import { TestCa, writePem } from '../../lib/certs';
import { createLogger } from '../../lib/log';

// The operator console of a controller that speaks HTTPS only (controller.tls), in real headless
// Chromium: the browser trusts the controller's certificate (pinned, as `demo --tls` does) or refuses
// the page; a token rotated away by a reload, or past its expiry, ends the session with the reason.
const ca = new TestCa('console test CA');
const dir = mkdtempSync(path.join(tmpdir(), 'metering-console-tls-'));
writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
const server = writePem(dir, 'controller', ca.server('127.0.0.1'));
const READER = 'console-reader-token-0123';
const EXPIRED = 'console-expired-token-0123';
const yaml = (tokens: string) =>
  `controller:\n  port: 0\n  tls:\n    cert: ${server.cert}\n    key: ${server.key}\n  auth:\n    tokens:\n${tokens}console:\n  refreshSeconds: 2\n`;
const BOTH = `      - {name: reader, token: ${READER}, roles: [read]}\n      - {name: old, token: ${EXPIRED}, roles: [read], expires: "2020-01-01"}\n`;

describe.skipIf(!chromiumPath())('the console over HTTPS', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    const config = parseConfig(yaml(BOTH), 'test.yaml', {});
    const assets = await buildConsoleAssets();
    // the panels' data routes are not mounted: only sign-in and the session matter here
    app = await buildController({ config, log: createLogger('test', 'silent'), metrics: new ProductMetrics(false), routes: [consoleRoutes({ db: undefined as unknown as Db, config: config.console, assets })] });
    base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  it('a browser that does not know the CA refuses the page; one that trusts the certificate signs in', async () => {
    expect(base.startsWith('https://')).toBe(true);
    const untrusting = await launchChromium();
    try {
      const p = await untrusting.newPage();
      await expect(p.goto(`${base}/ui/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await untrusting.close();
    }
    const browser = await launchChromium({ trust: [server.cert] });
    try {
      const p = await browser.newPage();
      await signIn(p, base, READER);
      expect(await p.getByTestId('who').textContent()).toContain('reader');
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('an expired token is refused with its expiry; a token rotated away by a reload ends the session with the reason', async () => {
    const browser = await launchChromium({ trust: [server.cert] });
    try {
      const p = await browser.newPage();
      await p.goto(`${base}/ui/`);
      await p.getByLabel('API token').fill(EXPIRED);
      await p.keyboard.press('Enter');
      await expect.poll(() => p.getByRole('alert').textContent()).toBe('Refused: token "old" expired at 2020-01-01T00:00:00.000Z.');

      await p.getByLabel('API token').fill(READER);
      await p.keyboard.press('Enter');
      await p.getByTestId('who').waitFor();
      // the operator rotates the reader's token away (what SIGHUP does with the edited file)
      await app.reloadSecurity(parseConfig(yaml(`      - {name: ops, token: another-token-0123456789, roles: [admin]}\n`), 'test.yaml', {}), 'test');
      // the panels' next refresh (console.refreshSeconds: 2) meets the 401
      await expect.poll(() => p.getByRole('alert').textContent(), { timeout: 15_000 }).toBe('Signed out: unknown token.');
      expect(await p.evaluate(() => sessionStorage.getItem('metering.console.token'))).toBeNull();
    } finally {
      await browser.close();
    }
  }, 60_000);
});
