import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DemoStep } from '../cli/demo-context';
import { chromiumPath, launchChromium, PANEL_NAMES, signIn } from './browser';

/**
 * The demo's console chapter: the pipeline reconciles itself, then headless Chromium signs in to
 * the console and saves a screenshot of each panel under out/demo/console/.
 */
export const consoleDemoStep: DemoStep = {
  title: 'The operator console and the pipeline watching itself',
  async run(ctx) {
    const status = (await ctx.call('GET', '/v1/pipeline/status')).json<{ transports: Array<{ transport: string }>; totals: Record<string, number>; freshness_s: { newest_sample: string | null } }>();
    ctx.say(`pipeline: ${status.totals.stored} samples stored via ${status.transports.map((t) => t.transport).join(' and ')}; metrics at GET /metrics (metering_ingest_batch_write_seconds, metering_pipeline_freshness_seconds, metering_kafka_consumer_lag …)`);
    const newest = status.freshness_s.newest_sample ? Date.parse(status.freshness_s.newest_sample) : Date.now();
    const to = new Date(Math.ceil(newest / 3_600_000) * 3_600_000);
    const from = new Date(+to - 48 * 3_600_000);
    const rec = (await ctx.call('GET', `/v1/pipeline/reconciliation?from=${from.toISOString()}&to=${to.toISOString()}`)).json<{ ok: boolean; accepted_total: number; stored_total: number; pairs: number; differing: number }>();
    ctx.say(`reconciliation over the data's last 48 h: ledger ${rec.accepted_total} vs store ${rec.stored_total} samples in ${rec.pairs} resource-hours: ${rec.ok ? 'every resource-hour matches' : `${rec.differing} differ`}`);
    await ctx.call('POST', '/v1/scaler/evaluate'); // one live evaluation, so the scaler panel has a decision to show

    if (!chromiumPath()) {
      ctx.say('screenshots skipped: no Chromium (apt-get install chromium, or node scripts/ensure.mjs)');
      return;
    }
    const dir = path.join(ctx.outDir, 'console');
    mkdirSync(dir, { recursive: true });
    // with `demo --tls` the controller's certificate comes from the run's own CA, which Chromium does not know
    const browser = await launchChromium({ trust: ctx.config.controller.tls.cert ? [ctx.config.controller.tls.cert] : [] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, ctx.url, ctx.token);
      await page.waitForLoadState('networkidle');
      // show a reconciliation in the pipeline panel's screenshot
      await page.locator('[data-panel="pipeline"]').getByRole('button', { name: /Reconcile/ }).click();
      await page.getByTestId('reconciliation-result').waitFor();
      for (const name of PANEL_NAMES) {
        const panel = page.locator(`[data-panel="${name}"]`);
        await panel.scrollIntoViewIfNeeded();
        await panel.screenshot({ path: path.join(dir, `${name}.png`) });
      }
      await page.screenshot({ path: path.join(dir, 'console.png') });
      ctx.say(`headless Chromium signed in and saved ${PANEL_NAMES.length} panel screenshots to ${path.relative(process.cwd(), dir) || dir}/ (${errors.length ? `console errors: ${errors.join('; ')}` : 'no console errors'})`);
      if (errors.length) throw new Error(`the console logged errors: ${errors.join('; ')}`);
    } finally {
      await browser.close();
    }
  },
};
