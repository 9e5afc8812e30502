import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumArgs, chromiumEndpoint, chromiumPath, hasChromium, launchChromium } from '../support/chromium.js';

/**
 * A third-party shop for the browser tests: plain HTML pages on their own origin (a tiny node:http
 * server on another port, reached as `localhost` while the API is `127.0.0.1`), and a real headless
 * Chromium with a fresh profile.
 */
/** Outside CI a machine without Chromium skips the browser suite; in CI (CI=true) a missing one fails it. */
export const runBrowserTests = hasChromium;

export { ensureWidgetBuilt, repositoryRoot } from '../support/build.js';

export interface ShopPage {
  readonly html: string;
  readonly headers?: Record<string, string>;
}

export class ShopServer {
  private readonly pages = new Map<string, ShopPage>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<ShopServer> {
    const server = createServer();
    const port = await new Promise<number>((resolve) => {
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    const shop = new ShopServer(server, port);
    server.on('request', (request, response) => {
      const page = shop.pages.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (!page) {
        response.writeHead(404).end('not found');
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...page.headers });
      response.end(page.html);
    });
    return shop;
  }

  /** The shop's origin; a different host and port from the API's `http://127.0.0.1:…`. */
  get origin(): string {
    return `http://localhost:${this.port}`;
  }

  /** Serves a JavaScript file from disk at `path` (for pages that import the npm package's ES modules). */
  addScript(path: string, file: string): void {
    this.pages.set(path, { html: readFileSync(file, 'utf8'), headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  }

  /** Serves `page` at `path`; answers its full URL. */
  add(path: string, page: ShopPage): string {
    this.pages.set(path, page);
    return `${this.origin}${path}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface LaunchedBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Debian's Chromium, headless, with a fresh user-data-dir that is removed afterwards (or a fresh
 * context of a served one). `backForwardCache`: keep the back/forward cache that playwright turns
 * off by default (a served browser keeps the flags it was started with). `javaScript: false`: pages
 * run no script, as with JavaScript turned off.
 */
export async function launchBrowser(options: { backForwardCache?: boolean; javaScript?: boolean } = {}): Promise<LaunchedBrowser> {
  const javaScript = options.javaScript === false ? { javaScriptEnabled: false } : {};
  if (chromiumEndpoint !== undefined) {
    const browser = await launchChromium();
    const context = await browser.newContext(javaScript);
    return {
      context,
      close: async () => {
        await context.close();
        await browser.close();
      },
    };
  }
  const profile = mkdtempSync(join(tmpdir(), 'stockwire-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [...chromiumArgs],
    ...(options.backForwardCache ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] } : {}),
    ...javaScript,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the widget for `sku` shows `text`; answers how long that took in ms. */
export async function waitForText(page: Page, sku: string, text: string, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  await page.waitForFunction(
    ([s, t]) => {
      const element = document.querySelector(`[data-stockwire-sku="${CSS.escape(s)}"] stockwire-stock`);
      return element?.shadowRoot?.querySelector('.sw')?.children[1]?.textContent === t;
    },
    [sku, text] as const,
    { timeout: timeoutMs, polling: 10 },
  );
  return performance.now() - started;
}
