import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, startStockwire, type RunningStockwire } from 'stockwire-server';
import { startOrderSimulator } from 'stockwire-server/simulator';
import { buildReactExample } from './react/build.js';
import { startReactServer } from './react/react-server.js';
import { renderShopPage, startShopServer } from './shop/shop-server.js';
import { hasChromium, launchChromium } from '../test/support/chromium.js';
import { freePort } from '../test/support/ports.js';
import { ensureWidgetBuilt, repositoryRoot } from '../test/support/build.js';
import { widgetText } from '../test/support/widget-page.js';

/**
 * Starts each example against a real Stockwire node (the per-run PostgreSQL when there is one,
 * else the embedded database) with its own merchant, and checks that it does its job.
 */
const adminToken = 'examples-test-admin-token-0123456789';
const run = promisify(execFile);

let stockwire: RunningStockwire;
let apiUrl: string;
let wsUrl: string;
let dataDir: string;
let keys: { publishableKey: string; secretKey: string };
let browser: Browser | undefined;

/** The few fields these tests read from API answers. */
interface Body {
  readonly version: number;
  readonly reserved: number;
  readonly publishableKey: string;
  readonly secretKey: string;
}

async function api(method: string, path: string, body?: unknown, token = keys.secretKey): Promise<{ status: number; body: Body }> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function product(sku: string, onHand: number, settings: { display?: string; lowStockThreshold?: number; viewers?: boolean } = {}): Promise<void> {
  expect((await api('PUT', `/v1/products/${sku}`, { name: sku, display: 'exact', lowStockThreshold: 3, ...settings })).status).toBeLessThan(300);
  expect((await api('PUT', `/v1/stock/${sku}`, { onHand })).status).toBe(200);
}

beforeAll(async () => {
  ensureWidgetBuilt();
  dataDir = await mkdtemp(join(tmpdir(), 'stockwire-examples-'));
  const wsPort = await freePort();
  const databaseUrl = inject('databaseUrl') ?? undefined;
  stockwire = await startStockwire(
    loadConfig({
      METRICS_PORT: '0',
      PORT: '0',
      WS_PORT: String(wsPort),
      ADMIN_TOKEN: adminToken,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    }),
  );
  apiUrl = stockwire.apiUrl!;
  wsUrl = stockwire.wsUrl!;
  const created = await api('POST', '/v1/merchants', { name: 'Examples test shop' }, adminToken);
  expect(created.status).toBe(201);
  keys = created.body;
  for (const [sku, onHand, display] of [
    ['DEMO-PRINT', 3, 'exact'],
    ['DEMO-TEE', 30, 'exact'],
    ['DEMO-MUG', 16, 'threshold'],
    ['DEMO-HOODIE', 20, 'status'],
    ['DEMO-LANTERN', 5, 'exact'],
  ] as const) {
    await product(sku, onHand, { display });
  }
  if (hasChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stockwire?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('order simulator', () => {
  it('drives sales, restocks and holds through the REST API and stops cleanly', async () => {
    await product('SIM-CORE-A', 4);
    await product('SIM-CORE-B', 40);
    const before = (await api('GET', '/v1/stock/SIM-CORE-A')).body.version;
    const sim = startOrderSimulator({
      apiUrl,
      secretKey: keys.secretKey,
      skus: [{ sku: 'SIM-CORE-A', parLevel: 4, weight: 5 }, 'SIM-CORE-B'],
      rate: 60,
      restockDelayMs: [100, 300],
      maxRequests: 150,
    });
    // Bounded by count; also stop it on time so a slow machine cannot hang the test.
    const timer = setTimeout(() => void sim.stop(), 8000);
    const stats = await sim.done;
    clearTimeout(timer);
    expect(stats.sales).toBeGreaterThan(0);
    expect(stats.requests).toBeLessThanOrEqual(150 + stats.holds);
    expect(stats.errors).toBe(0);
    const after = (await api('GET', '/v1/stock/SIM-CORE-A')).body;
    expect(after.version).toBeGreaterThan(before);
    // Holds are always resolved: nothing is left reserved behind the simulator.
    expect(after.reserved).toBe(0);
    expect((await api('GET', '/v1/stock/SIM-CORE-B')).body.reserved).toBe(0);
    if (stats.soldOut > 0) expect(stats.restocks).toBeGreaterThan(0);
  });

  it('runs as a command with flags, creating the SKUs it was asked for', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(repositoryRoot, 'node_modules/tsx/dist/cli.mjs'),
        join(repositoryRoot, 'examples/order-simulator/main.ts'),
        '--api', apiUrl, '--key', keys.secretKey, '--skus', '3', '--rate', '20', '--duration', '2', '--quiet',
      ],
      { cwd: repositoryRoot, timeout: 30_000 },
    );
    expect(stdout).toContain('created SIM-001, SIM-002, SIM-003');
    expect(stdout).toMatch(/Done in [\d.]+ s: \d+ requests, [1-9]\d* sales/);
    const stock = (await api('GET', '/v1/stock/SIM-001')).body;
    expect(stock.version).toBeGreaterThan(1);
  });

  it('refuses a publishable key and a remote API without --allow-remote', async () => {
    const cli = [join(repositoryRoot, 'node_modules/tsx/dist/cli.mjs'), join(repositoryRoot, 'examples/order-simulator/main.ts')];
    await expect(run(process.execPath, [...cli, '--api', apiUrl, '--key', keys.publishableKey], { cwd: repositoryRoot })).rejects.toMatchObject({
      stderr: expect.stringContaining('secret key'),
    });
    await expect(run(process.execPath, [...cli, '--api', 'http://192.0.2.1:8080', '--key', keys.secretKey], { cwd: repositoryRoot })).rejects.toMatchObject({
      stderr: expect.stringContaining('--allow-remote'),
    });
  });
});

describe('shop page', () => {
  it('serves the pasted script tag with the API address and publishable key', async () => {
    const shop = await startShopServer({ apiUrl, publishableKey: keys.publishableKey, port: 0 });
    try {
      const response = await fetch(shop.url);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain(`<script src="${apiUrl}/widget.js" data-key="${keys.publishableKey}" async></script>`);
      expect(html).toContain('data-stockwire-disable="#add-to-cart"');
      expect(new URL(shop.url).origin).not.toBe(new URL(apiUrl).origin);
      expect(html).not.toContain(keys.secretKey);
    } finally {
      await shop.close();
    }
  });

  it('never puts anything but the given key into the page', async () => {
    const html = await renderShopPage('http://127.0.0.1:1', 'pk_"><script>alert(1)</script>');
    expect(html).not.toContain('<script>alert(1)');
  });

  it.skipIf(!hasChromium)('shows live stock from another origin and disables the buy button while sold out', async () => {
    await product('DEMO-PRINT', 3);
    const shop = await startShopServer({ apiUrl, publishableKey: keys.publishableKey, port: 0 });
    const page = await browser!.newPage();
    try {
      await page.goto(shop.url);
      await expect.poll(() => widgetText(page, 'DEMO-PRINT'), { timeout: 15_000 }).toMatch(/3/);
      await expect.poll(() => page.locator('#add-to-cart').isEnabled()).toBe(true);

      expect((await api('PUT', '/v1/stock/DEMO-PRINT', { onHand: 0 })).status).toBe(200);
      await expect.poll(() => page.locator('#add-to-cart').isDisabled(), { timeout: 10_000 }).toBe(true);
      expect((await api('PUT', '/v1/stock/DEMO-PRINT', { onHand: 2 })).status).toBe(200);
      await expect.poll(() => page.locator('#add-to-cart').isEnabled(), { timeout: 10_000 }).toBe(true);

      // The span the shop's own script adds a second after load shows stock too.
      await expect.poll(() => widgetText(page, 'DEMO-LANTERN'), { timeout: 15_000 }).toMatch(/in stock/i);
    } finally {
      await page.close();
      await shop.close();
    }
  });
});

describe('product pages', () => {
  it('renders the print page on the server: the badge and the offer in the JSON-LD, before any script runs', async () => {
    await product('DEMO-PRINT', 2);
    const shop = await startShopServer({ apiUrl, publishableKey: keys.publishableKey, port: 0 });
    try {
      const html = await (await fetch(new URL('/print', shop.url))).text();
      expect(html).toContain('<span data-stockwire-sku="DEMO-PRINT" data-stockwire-disable="#add-to-cart"><stockwire-stock sku="DEMO-PRINT" lang="en"><template shadowrootmode="open">');
      expect(html).toContain('<span>Only 2 left</span>');
      const jsonLd = JSON.parse(/<script type="application\/ld\+json">(.*?)<\/script>/s.exec(html)![1]!) as Record<string, unknown>;
      expect(jsonLd).toMatchObject({
        '@type': 'Product',
        sku: 'DEMO-PRINT',
        offers: { '@type': 'Offer', availability: 'https://schema.org/LimitedAvailability', inventoryLevel: { value: 2 }, price: '45.00' },
      });
    } finally {
      await shop.close();
    }
  });

  it.skipIf(!hasChromium)('follows the size picker on the runner page', async () => {
    await product('DEMO-RUNNER-42', 2);
    await product('DEMO-RUNNER-43', 0);
    const shop = await startShopServer({ apiUrl, publishableKey: keys.publishableKey, port: 0 });
    const page = await browser!.newPage();
    try {
      await page.goto(new URL('/runner', shop.url).href);
      await expect.poll(() => widgetText(page, 'DEMO-RUNNER-42'), { timeout: 15_000 }).toMatch(/^Only 2 left/);
      await page.locator('label', { hasText: '43' }).click();
      await expect.poll(() => widgetText(page, 'DEMO-RUNNER-43'), { timeout: 5000 }).toMatch(/^Sold out/);
      await expect.poll(() => page.locator('#add-to-cart').isDisabled()).toBe(true);
    } finally {
      await page.close();
      await shop.close();
    }
  });
  it.skipIf(!hasChromium)('shows how many people have the runner page open, as the server counts them', async () => {
    await product('DEMO-RUNNER-42', 6, { viewers: true });
    const shop = await startShopServer({ apiUrl, publishableKey: keys.publishableKey, port: 0 });
    const pages = [await browser!.newPage(), await browser!.newPage()];
    const line = (page: (typeof pages)[number]) => page.locator('[data-stockwire-viewers]').textContent();
    try {
      for (const page of pages) await page.goto(new URL('/runner', shop.url).href);
      for (const page of pages) await expect.poll(() => line(page), { timeout: 15_000 }).toBe('2 people are viewing this');
      await pages.pop()!.close();
      // One viewer (the shopper alone) shows no line.
      await expect.poll(() => line(pages[0]!), { timeout: 10_000 }).toBe('');
    } finally {
      for (const page of pages) await page.close();
      await shop.close();
    }
  });
});

describe('React app', () => {
  it.skipIf(!hasChromium)('builds, serves, and shows live stock through useStock(sku)', async () => {
    await product('DEMO-TEE', 30);
    await buildReactExample();
    const app = await startReactServer({ apiUrl, wsUrl, publishableKey: keys.publishableKey, port: 0 });
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await page.goto(app.url);
      const tee = page.getByTestId('stock-DEMO-TEE');
      await expect.poll(() => tee.innerText(), { timeout: 15_000 }).toBe('In stock (30)');
      await expect.poll(() => page.getByTestId('connection').innerText(), { timeout: 15_000 }).toBe('open');

      expect((await api('POST', '/v1/stock/DEMO-TEE/adjust', { delta: -28, reason: 'test order' })).status).toBe(200);
      await expect.poll(() => tee.innerText(), { timeout: 10_000 }).toBe('Only 2 left');
      expect((await api('PUT', '/v1/stock/DEMO-TEE', { onHand: 0 })).status).toBe(200);
      await expect.poll(() => tee.innerText(), { timeout: 10_000 }).toBe('Sold out');
      await expect.poll(() => page.locator('[data-sku="DEMO-TEE"] button').isDisabled()).toBe(true);

      // `status` display: never a number, even to the app.
      await expect.poll(() => page.getByTestId('stock-DEMO-HOODIE').innerText(), { timeout: 10_000 }).toBe('In stock');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await app.close();
    }
  });
});
