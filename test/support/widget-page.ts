import type { Page } from 'playwright-core';

/** What the widget shows on a page, for the browser tests of the demo and the examples. */

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
