import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCli, ensureWidgetBuilt, repositoryRoot } from '../../test/support/build.js';
import { allWidgetTexts } from '../../test/support/widget-page.js';
import { hasChromium, launchChromium } from '../../test/support/chromium.js';
import { freePort } from '../../test/support/ports.js';
import { loadConfig } from '../config.js';
import { demoProducts } from './demo-products.js';
import { runDemo, type RunningDemo } from './run-demo.js';

/**
 * `npm start` as a newcomer meets it: embedded database in a fresh DATA_DIR, nothing else set.
 * The first start creates the demo merchant; the second finds it again; the page comes alive.
 */
let dataDir: string;
let wsPort: number;
let browser: Browser | undefined;
const running: RunningDemo[] = [];

function demoConfig() {
  return loadConfig({ METRICS_PORT: '0', PORT: '0', WS_PORT: String(wsPort), DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
}

async function start(): Promise<{ demo: RunningDemo; printed: string }> {
  let printed = '';
  const demo = await runDemo(demoConfig(), { print: (text) => (printed += text), ordersPerSecond: 6 });
  running.push(demo);
  return { demo, printed };
}

async function stockOf(demo: RunningDemo, sku: string): Promise<{ http: number; version: number; reserved: number }> {
  const response = await fetch(`${demo.apiUrl}/v1/stock/${sku}`, { headers: { authorization: `Bearer ${demo.secretKey}` } });
  return { http: response.status, ...((await response.json()) as { version: number; reserved: number }) };
}

beforeAll(async () => {
  ensureWidgetBuilt();
  dataDir = await mkdtemp(join(tmpdir(), 'stockwire-demo-'));
  wsPort = await freePort();
  if (hasChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const demo of running) await demo.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm start (the demo)', () => {
  let firstKeys: { publishableKey: string; secretKey: string; merchantId: string };

  it('first start: creates the demo merchant and its products, prints the URLs and keys once, moves stock', { timeout: 90_000 }, async () => {
    const { demo, printed } = await start();
    expect(demo.createdMerchant).toBe(true);
    firstKeys = { publishableKey: demo.publishableKey, secretKey: demo.secretKey, merchantId: demo.merchantId };
    expect(demo.publishableKey).toMatch(/^pk_/);
    expect(demo.secretKey).toMatch(/^sk_/);

    expect(printed).toContain(`${demo.apiUrl}/demo`);
    expect(printed).toContain(`data-key="${demo.publishableKey}"`);
    expect(printed.split(demo.publishableKey).length - 1).toBe(2); // the key line and the script tag
    expect(printed).toContain(demo.secretKey);
    expect(printed).toMatch(/simulat/i);

    // The secret is stored hashed in the database; demo.json is the only copy, readable by its owner only.
    const file = join(dataDir, 'demo.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ ...firstKeys, apiUrl: demo.apiUrl, wsUrl: demo.wsUrl });

    for (const p of demoProducts) expect((await stockOf(demo, p.sku)).http).toBe(200);
    const policies = new Set(demoProducts.map((p) => p.display));
    expect(policies).toEqual(new Set(['exact', 'threshold', 'status']));
    expect(demoProducts.length).toBe(14);

    // Simulated orders arrive within seconds.
    await expect.poll(() => demo.simulator.stats().sales, { timeout: 15_000 }).toBeGreaterThan(0);
    await demo.close();
    expect(demo.simulator.stats().errors).toBe(0);
  });

  it('second start: reuses the merchant, keys and stock from DATA_DIR', { timeout: 60_000 }, async () => {
    const { demo, printed } = await start();
    expect(demo.createdMerchant).toBe(false);
    expect({ publishableKey: demo.publishableKey, secretKey: demo.secretKey, merchantId: demo.merchantId }).toEqual(firstKeys);
    expect(printed).toContain('reused from');
    // The first run sold and restocked it: its history is still there, not a fresh version 1.
    expect((await stockOf(demo, 'DEMO-PRINT')).version).toBeGreaterThan(1);
  });

  it.skipIf(!hasChromium)('/demo renders live stock with the real script tag, labelled as a demo', { timeout: 120_000 }, async () => {
    const demo = running[running.length - 1]!;
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('response', (response) => {
      if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
    });
    try {
      const response = await page.goto(demo.demoUrl);
      expect(response?.status()).toBe(200);
      expect(await page.locator(`script[src="/widget.js"][data-key="${demo.publishableKey}"]`).count()).toBe(1);
      expect(await page.getByRole('note').innerText()).toContain('Simulated orders');

      expect(await page.locator('[data-stockwire-sku]').count()).toBe(demoProducts.length);
      // Every product shows its stock …
      await expect.poll(async () => (await allWidgetTexts(page)).filter((t) => t.trim() !== '').length, { timeout: 20_000 }).toBe(demoProducts.length);
      // … and it moves on its own while the page is open.
      const first = (await allWidgetTexts(page)).join('|');
      await expect.poll(async () => (await allWidgetTexts(page)).join('|'), { timeout: 30_000, interval: 250 }).not.toBe(first);
      expect(errors).toEqual([]);

      const update = process.env.UPDATE_SCREENSHOT === '1';
      if (update) {
        // For the README, wait (a little) for a moment that shows every kind of state at once.
        const varied = async () => {
          const all = (await allWidgetTexts(page)).join('|');
          return all.includes('Sold out') && /Only \d+ left|Almost gone/.test(all);
        };
        await expect.poll(varied, { timeout: 40_000, interval: 200 }).toBe(true).catch(() => undefined);
      }
      const target = join(repositoryRoot, update ? 'docs' : 'test-artifacts');
      await mkdir(target, { recursive: true });
      await page.screenshot({ path: join(target, 'demo.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it.skipIf(!hasChromium)('the banner signs the demo merchant in to the console with one click; another site cannot', { timeout: 60_000 }, async () => {
    const demo = running[running.length - 1]!;
    const forged = await fetch(`${demo.apiUrl}/demo/console-sign-in`, { method: 'POST', headers: { origin: 'https://evil.example' }, redirect: 'manual' });
    expect(forged.status).toBe(403);
    expect(forged.headers.getSetCookie()).toEqual([]);

    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(demo.demoUrl);
      await page.getByRole('note').getByRole('button').click();
      await page.waitForURL(`${demo.apiUrl}/console`);
      await page.waitForSelector('table.products tbody tr');
      expect(await page.locator('table.products tbody tr').count()).toBe(demoProducts.length);
      expect(await page.textContent('header .merchant')).toBe('Stockwire demo shop');
      // The demo's secret key never reached the browser.
      expect(await page.evaluate((key) => document.documentElement.outerHTML.includes(key), demo.secretKey)).toBe(false);
    } finally {
      await page.close();
    }
  });

  it('`stockwire demo` (npm start) prints the banner and stops cleanly on Ctrl-C', { timeout: 90_000 }, async () => {
    const cliDataDir = await mkdtemp(join(tmpdir(), 'stockwire-demo-cli-'));
    // What `npm start` runs: the compiled bin, with the node flags of its first line.
    const child = spawn(builtCli(), ['demo'], {
      cwd: repositoryRoot,
      env: { ...process.env, PORT: '0', WS_PORT: String(await freePort()), METRICS_PORT: '0', DATA_DIR: cliDataDir, DATABASE_URL: '', REDIS_URL: '', ADMIN_TOKEN: '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => out, { timeout: 45_000, interval: 200 }).toContain('Demo shop page');
      const url = /Demo shop page\s+(\S+)/.exec(out)![1]!;
      expect((await fetch(url)).status).toBe(200);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).not.toMatch(/Aborted|Uncaught|ERR_/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(cliDataDir, { recursive: true, force: true });
    }
  });
});
