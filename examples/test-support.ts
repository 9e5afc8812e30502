import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Helpers shared by the examples' and the demo's tests: a real headless Chromium, a free port
 * (for the socket, whose address the served widget.js must know), and widget.js built if missing.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Browser suites run wherever Chromium is installed; CI installs it, so there they always run. */
export const hasChromium = existsSync(chromiumPath) || process.env.CI === 'true';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `/widget.js` serves `dist/widget.js`; `npm test` builds it first, a single test file may not have. */
export { ensureWidgetBundle as ensureWidgetBuilt } from '../server/demo/widget-bundle.js';

export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * What the widget shows for one SKU. It renders inside the open Shadow DOM of `<stockwire-stock>`
 * (which the page's own innerText does not include); Playwright's CSS locators pierce it.
 */
export function widgetText(page: Page, sku: string): Promise<string> {
  return page
    .locator(`[data-stockwire-sku="${sku}"] [part="status"]`)
    .first()
    .innerText({ timeout: 1000 })
    .catch(() => '');
}

/** The widget's text for every `data-stockwire-sku` element on the page, in page order. */
export async function allWidgetTexts(page: Page): Promise<string[]> {
  const spans = page.locator('[data-stockwire-sku]');
  const texts: string[] = [];
  for (let i = 0; i < (await spans.count()); i += 1) {
    texts.push(await spans.nth(i).locator('[part="status"]').allInnerTexts().then((t) => t.join(' ')));
  }
  return texts;
}
