import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';

/**
 * Headless Chromium for the console's screenshots and browser tests: the system's browser (Debian's
 * `chromium`, installed by scripts/ensure.mjs), driven by playwright-core. Nothing is downloaded.
 */

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The Chromium executable: $CHROMIUM_PATH, else the first installed candidate, else undefined. */
export function chromiumPath(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((c) => existsSync(c));
}

/**
 * `trust`: PEM certificate files (e.g. controller.tls.cert of a controller whose CA the system does
 * not know) that this browser accepts, pinned by public key: Chromium does not read
 * NODE_EXTRA_CA_CERTS, and every other certificate error still stops the page.
 */
export async function launchChromium(opts: { trust?: readonly string[] } = {}): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium found: apt-get install chromium (node scripts/ensure.mjs does) or set CHROMIUM_PATH');
  const { chromium } = await import('playwright-core');
  const pins = (opts.trust ?? []).map((file) => createHash('sha256').update(new X509Certificate(readFileSync(file)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', ...(pins.length ? [`--ignore-certificate-errors-spki-list=${pins.join(',')}`] : [])] });
}

export const PANEL_NAMES = ['pipeline', 'cluster', 'scaler', 'profiles', 'predictions', 'usage', 'invoices', 'compliance'] as const;

/** Sign in on the console's page with `token` (typed into the form, as a person would). */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
}
