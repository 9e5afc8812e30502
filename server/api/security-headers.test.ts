import { describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../../test/support/chromium.js';
import { loadConfig } from '../config.js';
import { StockStore } from '../store/stock-store.js';
import { buildApp } from './app.js';

/** The Content-Security-Policy must not break what the API serves to browsers: Swagger UI at /docs. */
describe.skipIf(!hasChromium)('security headers in a real browser', () => {
  it('renders /docs under its Content-Security-Policy with no violation', async () => {
    const config = loadConfig({ LOG_LEVEL: 'silent', ADMIN_TOKEN: 'browser-admin-token-0123456789' });
    const store = await StockStore.open({ databaseUrl: undefined, dataDir: 'memory://', idempotencyTtlHours: 24, reservationSweepIntervalMs: 0 });
    const app = buildApp({ store, http: config.http, adminToken: config.adminToken, publicWsUrl: config.publicWsUrl });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      const res = await page.goto(`${base}/docs`);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
      expect(await page.textContent('.swagger-ui .info .title')).toContain('Stockwire API');
      await page.waitForSelector('.opblock-tag', { timeout: 15_000 });
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
      await app.close();
      await store.close();
    }
  }, 60_000);
});
