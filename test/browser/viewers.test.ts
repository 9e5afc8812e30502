import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningStockwire } from '../../server/main.js';
import { realDatabaseUrl, realRedisUrl } from '../backends.js';
import { freePort } from '../support/ports.js';
import { ensureWidgetBuilt, launchBrowser, runBrowserTests, ShopServer, waitForText, type LaunchedBrowser } from './shop-page.js';
import { createMerchant, setStock, startNode, upsertProduct, type Merchant } from './stockwire-server.js';

/**
 * Honest viewer counts end to end: real product pages in headless Chromium, on two Stockwire nodes
 * that share the test PostgreSQL and Redis, counted by the servers (no stand-in).
 */
const databaseUrl = realDatabaseUrl();
const redisUrl = realRedisUrl();

type CountingWindow = Window & { counts?: number[] };

describe.skipIf(!runBrowserTests || databaseUrl === null || redisUrl === null)('viewer counts in Chromium on two nodes', () => {
  const nodes: RunningStockwire[] = [];
  let shop: ShopServer;
  let browser: LaunchedBrowser;
  let merchant: Merchant;

  beforeAll(async () => {
    ensureWidgetBuilt();
    const env = { REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: `${inject('redisPrefix')}viewers:` };
    const storage = { DATABASE_URL: databaseUrl! };
    for (let i = 0; i < 2; i++) nodes.push(await startNode({ port: await freePort(), wsPort: await freePort(), storage, env }));
    shop = await ShopServer.start();
    merchant = await createMerchant(nodes[0]!.apiUrl!, [shop.origin]);
    await upsertProduct(nodes[0]!.apiUrl!, merchant, 'SOFA', { viewers: true });
    await setStock(nodes[0]!.apiUrl!, merchant, 'SOFA', 7);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await shop?.close();
    await Promise.all(nodes.map((node) => node.close()));
  });

  /** A product page with a viewer line, its socket on the given node; it records every count it is sent. */
  async function productPage(path: string, node: RunningStockwire): Promise<Page> {
    const html =
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sofa</title>` +
      `<script>window.stockwire = window.stockwire || function () { (stockwire.q = stockwire.q || []).push(arguments) };` +
      `stockwire('on', 'viewers', function (e) { (window.counts = window.counts || []).push(e.count) });</script></head>` +
      `<body><h1>Sofa</h1><span data-stockwire-sku="SOFA"></span><p id="viewers" data-stockwire-viewers="SOFA"></p>` +
      `<script src="${nodes[0]!.apiUrl}/widget.js" data-key="${merchant.publishableKey}" data-stockwire-ws="${node.wsUrl}" async></script></body></html>`;
    const tab = await browser.context.newPage();
    await tab.goto(shop.add(path, { html }));
    await waitForText(tab, 'SOFA', 'In stock');
    return tab;
  }

  const lastCount = (tab: Page) => tab.evaluate(() => (window as CountingWindow).counts?.at(-1));
  const viewerLine = (tab: Page) => tab.evaluate(() => document.querySelector('#viewers')!.textContent);

  it('goes 1 → 3 as pages open on two nodes, and falls when they close', async () => {
    const [a, b] = nodes as [RunningStockwire, RunningStockwire];
    const first = await productPage('/sofa-1', a);
    await expect.poll(() => lastCount(first), { timeout: 10_000 }).toBe(1);
    // One viewer (the shopper alone) shows no line.
    expect(await viewerLine(first)).toBe('');
    const second = await productPage('/sofa-2', b);
    await expect.poll(() => lastCount(first), { timeout: 10_000 }).toBe(2);
    const third = await productPage('/sofa-3', b);
    await expect.poll(() => Promise.all([first, second, third].map(lastCount)), { timeout: 10_000 }).toEqual([3, 3, 3]);
    await expect.poll(() => viewerLine(first), { timeout: 5000 }).toBe('3 people are viewing this');
    expect(await viewerLine(third)).toBe('3 people are viewing this');
    // Every count a page got is one the servers counted: 1, 2, 3 in order, never more.
    expect(await first.evaluate(() => (window as CountingWindow).counts)).toEqual([1, 2, 3]);

    await third.close();
    await expect.poll(() => Promise.all([first, second].map(lastCount)), { timeout: 10_000 }).toEqual([2, 2]);
    await second.close();
    await expect.poll(() => lastCount(first), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => viewerLine(first), { timeout: 5000 }).toBe('');
    await first.close();
  }, 60_000);
});
