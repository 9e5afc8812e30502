import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { listenExample } from '../listen-example.js';

/**
 * Serves the example shop page on its own port — a different origin from the Stockwire API, as a
 * real merchant's theme would be. The page is plain HTML with the tag pasted in; serving only fills
 * in the real API address and publishable key.
 */
export interface ShopServerOptions {
  readonly apiUrl: string;
  readonly publishableKey: string;
  readonly port?: number;
  readonly host?: string;
}

export interface RunningShop {
  readonly url: string;
  close(): Promise<void>;
}

const pastedApi = 'http://127.0.0.1:8080';
const pastedKey = 'pk_YOUR_PUBLISHABLE_KEY';

/** Pages of the shop: the path and the template it is served from. */
const pages: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  // A product with a size picker and a viewer line.
  '/runner': 'runner.html',
  // Stock rendered by the shop's server (badge.html, and the offer in the JSON-LD).
  '/print': 'print-static.html',
};

export async function renderShopPage(apiUrl: string, publishableKey: string, file = 'index.html'): Promise<string> {
  const template = await readFile(new URL(`./${file}`, import.meta.url), 'utf8');
  return template.replaceAll(`${pastedApi}/widget.js`, `${escapeAttribute(apiUrl)}/widget.js`).replaceAll(pastedKey, escapeAttribute(publishableKey));
}

/**
 * What the shop's server does per request for a server-rendered page: fetch the badge and the
 * schema.org Offer with the publishable key and put them into the HTML. Should the API not answer,
 * the page goes out without them: the widget fills the badge in, and the JSON-LD states no offer.
 */
export async function renderStockInto(html: string, apiUrl: string, publishableKey: string): Promise<string> {
  const read = async (sku: string, what: string): Promise<string | undefined> => {
    try {
      const response = await fetch(`${apiUrl}/v1/stock/${encodeURIComponent(sku)}/${what}?key=${encodeURIComponent(publishableKey)}&lang=en`, {
        signal: AbortSignal.timeout(2000),
      });
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  };
  for (const [marker, sku] of [...html.matchAll(/<!--stockwire:badge ([^ ]+)-->/g)]) {
    html = html.replace(marker, (await read(sku!, 'badge.html')) ?? '');
  }
  for (const [marker, sku] of [...html.matchAll(/<!--stockwire:product-json-ld ([^ ]+)-->/g)]) {
    const offer = await read(sku!, 'offer');
    const product = {
      '@context': 'https://schema.org',
      '@type': 'Product',
      name: 'Numbered art print',
      sku,
      ...(offer ? { offers: { ...(JSON.parse(offer) as object), price: '45.00', priceCurrency: 'EUR' } } : {}),
    };
    // `<` escaped, so nothing in the data can close the script element.
    html = html.replace(marker, JSON.stringify(product).replace(/</g, '\\u003c'));
  }
  return html;
}

export async function startShopServer(options: ShopServerOptions): Promise<RunningShop> {
  const apiUrl = options.apiUrl.replace(/\/+$/, '');
  const rendered = new Map<string, string>();
  for (const file of new Set(Object.values(pages))) rendered.set(file, await renderShopPage(apiUrl, options.publishableKey, file));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://shop').pathname;
    const file = Object.hasOwn(pages, path) ? pages[path] : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (file) {
      void renderStockInto(rendered.get(file)!, apiUrl, options.publishableKey).then((page) => {
        // no-cache rather than no-store: the page may enter the back/forward cache.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(page);
      });
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return listenExample(server, options.port ?? 8081, options.host ?? '127.0.0.1');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
