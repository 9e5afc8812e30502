import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStockwire } from '../../server/main.js';
import { freePort } from '../support/ports.js';
import { ensureWidgetBuilt, launchBrowser, repositoryRoot, runBrowserTests, ShopServer, waitForText, type LaunchedBrowser } from './shop-page.js';
import { createMerchant, setStock, startNode, testStorage, upsertProduct, type Merchant } from './stockwire-server.js';

/**
 * The merchant console in real headless Chromium against a real node: sign in with the secret key,
 * watch stock change live, edit allowed origins, switch to Korean, add and delete webhooks, read
 * today's usage, use it on a phone, rotate keys. Screenshots of the signed-in console at desktop
 * width (English and Korean) and phone width go to test-artifacts/, or to docs/ for the README with
 * UPDATE_SCREENSHOT=1 (`npm run screenshots`).
 */
const screenshots = join(repositoryRoot, process.env.UPDATE_SCREENSHOT === '1' ? 'docs' : 'test-artifacts');

const products = [
  { sku: 'TEE-BLACK-M', name: 'Organic tee, black, M', onHand: 42 },
  { sku: 'TEE-WHITE-S', name: 'Organic tee, white, S', onHand: 4 },
  { sku: 'MUG-ENAMEL', name: 'Enamel mug', onHand: 0 },
  { sku: 'PRINT-NO-7', name: 'Numbered art print', onHand: 9 },
];

/**
 * Whether the page draws Hangul as glyphs: without a Korean font every syllable is the same
 * "missing glyph" box, and a screenshot for the README would show boxes.
 */
function drawsHangul(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const pixels = (text: string): string => {
      const canvas = document.createElement('canvas');
      canvas.width = 40;
      canvas.height = 40;
      const context = canvas.getContext('2d')!;
      context.font = `32px ${getComputedStyle(document.body).fontFamily}`;
      context.fillText(text, 2, 32);
      return context.getImageData(0, 0, 40, 40).data.join();
    };
    return pixels('한') !== pixels('국');
  });
}

describe.skipIf(!runBrowserTests)('merchant console in Chromium', () => {
  const storage = testStorage();
  let node: RunningStockwire;
  let apiUrl: string;
  let merchant: Merchant;
  let browser: LaunchedBrowser;
  let shop: ShopServer;

  beforeAll(async () => {
    ensureWidgetBuilt();
    // Webhooks to the local shop server (a private address) are allowed here.
    node = await startNode({ port: await freePort(), wsPort: await freePort(), storage, env: { PUBLISHABLE_KEY_GRACE_HOURS: '0', WEBHOOK_ALLOW_PRIVATE: 'true', USAGE_FLUSH_INTERVAL_MS: '250' } });
    apiUrl = node.apiUrl!;
    merchant = await createMerchant(apiUrl);
    for (const p of products) {
      // Shoppers' pages may ask how many watch the tee (the product opts in).
      await upsertProduct(apiUrl, merchant, p.sku, { name: p.name, lowStockThreshold: 5, viewers: p.sku === 'TEE-BLACK-M' });
      await setStock(apiUrl, merchant, p.sku, p.onHand);
    }
    browser = await launchBrowser();
    shop = await ShopServer.start();
    // The shop's endpoint is not there yet (404): the console shows the failed attempts.
    const hook = await fetch(`${apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${merchant.secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${shop.origin}/stock-hook`, events: ['stock.sold_out', 'stock.low_stock'] }),
    });
    expect(hook.status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await node?.close();
  });

  /** Signs in unless this browser's session cookie (tests share one browser context) is this merchant's and alive. */
  async function signIn(page: Page, who: { id: string; secretKey: string }): Promise<void> {
    await page.goto(`${apiUrl}/console`);
    const first = await page.waitForSelector('#secret-key, #keys');
    if ((await first.getAttribute('id')) !== 'secret-key') {
      const signedIn = await page.evaluate(async () => ((await (await fetch('/v1/console/session')).json()) as { merchantId: string }).merchantId);
      if (signedIn === who.id) return;
      await browser.context.clearCookies();
      await page.reload();
      await page.waitForSelector('#secret-key');
    }
    await page.fill('#secret-key', who.secretKey);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#keys');
  }

  function cell(page: Page, sku: string): Promise<string | null> {
    return page.textContent(`tr[data-sku="${sku}"] td[data-field="available"]`);
  }

  it('signs in, keeps the key nowhere in the page, and shows stock changes live', async () => {
    const page = await browser.context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, merchant);

    // The key went to the server once and stays nowhere: not in the DOM, storage, cookies or URL.
    const kept = await page.evaluate((key) => ({
      dom: document.documentElement.outerHTML.includes(key),
      field: (document.querySelector('#secret-key') as HTMLInputElement | null)?.value ?? '',
      storage: localStorage.length + sessionStorage.length,
      cookie: document.cookie,
      url: location.href.includes(key),
    }), merchant.secretKey);
    expect(kept).toEqual({ dom: false, field: '', storage: 0, cookie: '', url: false });
    expect(await page.textContent('[data-testid=script-tag]')).toContain(merchant.publishableKey);
    expect(await cell(page, 'TEE-BLACK-M')).toBe('42');

    await setStock(apiUrl, merchant, 'TEE-BLACK-M', 17);
    await page.waitForFunction(() => document.querySelector('tr[data-sku="TEE-BLACK-M"] td[data-field="available"]')?.textContent === '17', null, {
      timeout: 10_000,
    });
    await page.waitForSelector('.badge.live');

    // Two shoppers on the tee's product page: the console shows them (and is not counted itself).
    const html =
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tee</title></head><body>` +
      `<span data-stockwire-sku="TEE-BLACK-M"></span><p data-stockwire-viewers="TEE-BLACK-M"></p>` +
      `<script src="${apiUrl}/widget.js" data-key="${merchant.publishableKey}" async></script></body></html>`;
    const shoppers = [await browser.context.newPage(), await browser.context.newPage()];
    for (const [i, tab] of shoppers.entries()) {
      await tab.goto(shop.add(`/tee-${i}`, { html }));
      await waitForText(tab, 'TEE-BLACK-M', 'In stock');
    }
    await page.waitForFunction(() => document.querySelector('tr[data-sku="TEE-BLACK-M"] td[data-field="viewers"]')?.textContent === '2', null, {
      timeout: 15_000,
    });

    // A sale empties the white tee: its sold_out event is sent to the webhook (once the API lists the
    // attempt), and the console lists it too.
    await setStock(apiUrl, merchant, 'TEE-WHITE-S', 0);
    const auth = { headers: { authorization: `Bearer ${merchant.secretKey}` } };
    const [hook] = ((await (await fetch(`${apiUrl}/v1/webhooks`, auth)).json()) as { items: Array<{ id: string }> }).items;
    await expect
      .poll(async () => JSON.stringify(await (await fetch(`${apiUrl}/v1/webhooks/${hook!.id}/deliveries`, auth)).json()), { timeout: 15_000, interval: 500 })
      .toContain('stock.sold_out');
    await page.click('#webhooks button[aria-expanded=false]');
    expect(await page.textContent('#webhooks tbody tr', { timeout: 10_000 })).toContain('stock.sold_out');

    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: join(screenshots, 'console-desktop.png'), fullPage: true });
    // The same dashboard in Korean, every panel's words switched (the README shows it too).
    await page.click('button[lang=ko]');
    expect(await page.$$eval('section.panel h2', (titles) => titles.map((title) => title.textContent))).toEqual([
      '상품',
      '스크립트 태그',
      '설치된 사이트',
      '허용된 출처',
      '웹훅',
      '사용량 (최근 30일)',
      '키',
    ]);
    expect(await page.textContent('#webhooks .add-webhook button[type=submit]')).toBe('웹훅 추가');
    if (process.env.UPDATE_SCREENSHOT === '1') expect(await drawsHangul(page), 'a Korean font for docs/console-ko.png (Debian: fonts-nanum)').toBe(true);
    await page.screenshot({ path: join(screenshots, 'console-ko.png'), fullPage: true });
    await page.click('button[lang=en]');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(screenshots, 'console-phone.png'), fullPage: true });
    // Phone width: nothing wider than the screen but the products table, which scrolls in its box.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    expect(violations).toEqual([]);
    for (const tab of shoppers) await tab.close();
    await page.close();
  });

  it('edits allowed origins, speaks Korean on request, and signs out', async () => {
    const page = await browser.context.newPage();
    await signIn(page, merchant);
    await page.fill('#origins input[name=origin]', 'https://shop.example');
    await page.click('#origins form button[type=submit]');
    await page.click('#origins .row button:not(.secondary)');
    await page.waitForSelector('#origins [role=status].ok');
    const settings = await fetch(`${apiUrl}/v1/merchant`, { headers: { authorization: `Bearer ${merchant.secretKey}` } });
    expect(await settings.json()).toMatchObject({ allowedOrigins: ['https://shop.example'] });

    await page.click('button[lang=ko]');
    expect(await page.textContent('#origins h2')).toBe('허용된 출처');
    expect(await page.getAttribute('html', 'lang')).toBe('ko');
    await page.click('button[lang=en]');

    await page.click('header button.secondary');
    await page.waitForSelector('#secret-key');
    // The session is over on the server too: a reload lands on sign-in.
    await page.reload();
    await page.waitForSelector('#secret-key');
    await page.close();
  });

  it('adds a webhook, shows its signing secret once, and deletes it only after a confirmation', async () => {
    const owner = await createMerchant(apiUrl);
    const listed = async (): Promise<Array<{ id: string; url: string; events: string[] }>> =>
      ((await (await fetch(`${apiUrl}/v1/webhooks`, { headers: { authorization: `Bearer ${owner.secretKey}` } })).json()) as { items: Array<{ id: string; url: string; events: string[] }> }).items;
    const page = await browser.context.newPage();
    await signIn(page, owner);
    await page.waitForSelector('#webhooks .add-webhook');

    const url = `${shop.origin}/orders-hook`;
    await page.fill('#webhook-url', url);
    await page.uncheck('#webhooks input[name=events][value="stock.back_in_stock"]');
    const created = page.waitForResponse((response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/v1/webhooks');
    await page.click('#webhooks .add-webhook button[type=submit]');
    const answer = (await (await created).json()) as { id: string; secret: string };
    const shown = (await page.textContent('[data-testid=webhook-secret]', { timeout: 10_000 }))!.trim();
    expect(shown).toBe(answer.secret);
    expect(await listed()).toEqual([expect.objectContaining({ id: answer.id, url, events: ['stock.low_stock', 'stock.sold_out'] })]);
    const item = `#webhooks li[data-webhook-id="${answer.id}"]`;
    expect(await page.textContent(item)).toContain(url);

    // Once put away, the secret is nowhere in the page.
    await page.click('#webhooks .new-secret button:not(.secondary)');
    await page.waitForSelector('[data-testid=webhook-secret]', { state: 'detached' });
    expect(await page.evaluate((secret) => document.documentElement.outerHTML.includes(secret), shown)).toBe(false);

    // Cancel leaves it, in the page and on the server.
    await page.click(`${item} button.danger-link`);
    await page.click(`${item} [role=alertdialog] button.secondary`);
    await page.waitForSelector(`${item} [role=alertdialog]`, { state: 'detached' });
    expect((await listed()).map((hook) => hook.id)).toEqual([answer.id]);

    await page.click(`${item} button.danger-link`);
    await page.click(`${item} [role=alertdialog] button.danger`);
    await page.waitForSelector(item, { state: 'detached', timeout: 10_000 });
    expect(await listed()).toEqual([]);
    expect(await page.textContent('#webhooks')).toContain('No webhooks yet.');
    await page.close();
  });

  it("charts the last 30 days of usage with today's API calls and writes", async () => {
    const owner = await createMerchant(apiUrl);
    await upsertProduct(apiUrl, owner, 'USAGE-TEE', { name: 'Usage tee' });
    for (const onHand of [6, 5, 4, 3, 2, 1]) await setStock(apiUrl, owner, 'USAGE-TEE', onHand);
    for (let i = 0; i < 3; i++) expect((await fetch(`${apiUrl}/v1/merchant`, { headers: { authorization: `Bearer ${owner.secretKey}` } })).status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const usageToday = async (): Promise<{ apiCalls: number; writes: number }> => {
      const answer = (await (await fetch(`${apiUrl}/v1/merchant/usage`, { headers: { authorization: `Bearer ${owner.secretKey}` } })).json()) as {
        days: Array<{ day: string; apiCalls: number; writes: number }>;
      };
      return answer.days.find((d) => d.day === today) ?? { apiCalls: 0, writes: 0 };
    };
    // Seven writes (the product and six counts) among at least ten calls, once the node has flushed
    // them (a flush may come between the writes and the reads).
    let before = { apiCalls: 0, writes: 0 };
    await expect
      .poll(async () => {
        before = await usageToday();
        return { writes: before.writes, atLeastTenCalls: before.apiCalls >= 10 };
      }, { timeout: 15_000, interval: 250 })
      .toEqual({ writes: 7, atLeastTenCalls: true });

    const page = await browser.context.newPage();
    await signIn(page, owner);
    const chart = (measure: string) => `#usage figure[data-measure=${measure}]`;
    await page.waitForSelector(chart('writes'));
    expect(await page.textContent(`${chart('writes')} [data-field=today]`)).toBe('7');
    expect(await page.getAttribute(`${chart('writes')} svg`, 'aria-label')).toBe('Writes: today 7, 30 days 7');
    // Today is the last of 30 bars.
    const bars = await page.$$eval(`${chart('writes')} rect title`, (titles) => titles.map((title) => title.textContent));
    expect(bars).toHaveLength(30);
    expect(bars.at(-1)).toBe(`${today}: 7`);

    // The console's own calls count too, so today's API calls lie between what REST said before and after.
    const shownCalls = Number(await page.textContent(`${chart('apiCalls')} [data-field=today]`));
    const after = await usageToday();
    expect(shownCalls).toBeGreaterThanOrEqual(before.apiCalls);
    expect(shownCalls).toBeLessThanOrEqual(after.apiCalls);
    expect(await page.getAttribute(`${chart('apiCalls')} svg`, 'aria-label')).toBe(`API calls: today ${shownCalls}, 30 days ${shownCalls}`);
    await page.close();
  });

  it('is usable on a 375×812 phone: nothing wider than the screen, every control reachable', async () => {
    // Something in every panel, with long names and URLs that could push the layout wide.
    const owner = await createMerchant(apiUrl, ['https://a-rather-long-shop-domain-name.example.co.kr']);
    await upsertProduct(apiUrl, owner, 'LONG-SKU-ORGANIC-COTTON-TEE-BLACK-XXL', { name: 'Organic cotton heavyweight tee, black, XXL (limited run)', viewers: true });
    await setStock(apiUrl, owner, 'LONG-SKU-ORGANIC-COTTON-TEE-BLACK-XXL', 3);
    const hook = await fetch(`${apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${shop.origin}/hooks/stockwire/a-long-path-to-the-endpoint-that-receives-stock-events`, events: ['stock.sold_out'] }),
    });
    expect(hook.status).toBe(201);

    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 375, height: 812 });
    await signIn(page, owner);
    await page.waitForSelector('#usage figure');
    await page.waitForSelector('table.products tbody tr');
    // Open what opens: a webhook's deliveries and both confirmations.
    await page.click('#webhooks button[aria-expanded=false]');
    await page.click('#webhooks button.danger-link');
    await page.click('#keys button.danger');
    await page.waitForSelector('#keys [role=alertdialog]');

    const problems = await page.evaluate(() => {
      const found: string[] = [];
      const width = window.innerWidth;
      const scrollWidth = document.scrollingElement!.scrollWidth;
      if (scrollWidth > width) found.push(`page scrolls sideways: ${scrollWidth} > ${width}`);
      for (const panel of document.querySelectorAll<HTMLElement>('section.panel')) {
        const box = panel.getBoundingClientRect();
        if (box.left < 0 || box.right > width) found.push(`panel #${panel.id} spans ${box.left}..${box.right}`);
      }
      for (const control of document.querySelectorAll<HTMLElement>('button, input, a[href]')) {
        control.scrollIntoView({ block: 'center', inline: 'nearest' });
        const box = control.getBoundingClientRect();
        const name = `${control.tagName.toLowerCase()} "${control.textContent?.trim() || control.getAttribute('aria-label') || control.getAttribute('name') || ''}"`;
        if (box.width === 0 || box.height === 0) found.push(`${name} is not shown`);
        else if (box.left < 0 || box.right > width) found.push(`${name} spans ${box.left}..${box.right} of ${width}`);
        else {
          // Reachable: a tap at its centre lands on it, not on something covering it.
          const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
          if (hit === null || !(hit === control || control.contains(hit) || (control instanceof HTMLInputElement && control.labels?.[0]?.contains(hit)))) {
            found.push(`${name} is covered by ${hit?.tagName ?? 'nothing'}`);
          }
        }
      }
      return found;
    });
    expect(problems).toEqual([]);

    // The buttons work at this size too: cancelling both confirmations.
    await page.click('#keys [role=alertdialog] button.secondary');
    await page.click('#webhooks [role=alertdialog] button.secondary');
    await page.waitForSelector('[role=alertdialog]', { state: 'detached' });
    await page.close();
  });

  it('rotates keys after a confirmation: the new secret key works, the old one and the session stop', async () => {
    const page = await browser.context.newPage();
    await signIn(page, merchant);
    await page.click('#keys button.danger');
    await page.click('#keys [role=alertdialog] button.danger');
    const shown = (await page.textContent('[data-testid=new-secret-key]', { timeout: 10_000 }))!.trim();
    expect(shown).toMatch(/^sk_/);
    expect(shown).not.toBe(merchant.secretKey);

    const old = await fetch(`${apiUrl}/v1/merchant`, { headers: { authorization: `Bearer ${merchant.secretKey}` } });
    expect(old.status).toBe(401);
    const fresh = await fetch(`${apiUrl}/v1/merchant`, { headers: { authorization: `Bearer ${shown}` } });
    expect(fresh.status).toBe(200);

    await page.click('.new-keys .row button');
    await page.waitForSelector('#secret-key');
    expect(await page.evaluate((key) => document.documentElement.outerHTML.includes(key), shown)).toBe(false);
    await signIn(page, { id: merchant.id, secretKey: shown });
    await page.close();
  });
});
